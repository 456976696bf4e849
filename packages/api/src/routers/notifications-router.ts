import type { TRPCRouterRecord } from "@trpc/server";
import * as notifications from "../services/notifications.js";
import { protectedProcedure } from "../trpc.js";
import { markReadInput, notificationPreferenceInput } from "../webhooks/schemas.js";

export const notificationsRouter = {
  list: protectedProcedure.query(({ ctx }) =>
    notifications.listNotifications(ctx.deps.db, ctx.user.id),
  ),

  markRead: protectedProcedure
    .input(markReadInput)
    .mutation(({ ctx, input }) =>
      notifications.markNotificationsRead(ctx.deps.db, ctx.user.id, input, ctx.deps.now()),
    ),

  preferences: protectedProcedure.query(({ ctx }) =>
    notifications.notificationPreferencesOf(ctx.deps.db, ctx.user.id),
  ),

  setPreference: protectedProcedure
    .input(notificationPreferenceInput)
    .mutation(({ ctx, input }) =>
      notifications.setNotificationPreference(ctx.deps.db, ctx.user.id, input),
    ),
} satisfies TRPCRouterRecord;
