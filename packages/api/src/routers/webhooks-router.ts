import type { TRPCRouterRecord } from "@trpc/server";
import * as webhooks from "../services/webhook-endpoints.js";
import { protectedProcedure } from "../trpc.js";
import {
  createWebhookInput,
  redeliverInput,
  updateWebhookInput,
  webhookIdInput,
} from "../webhooks/schemas.js";

export const webhooksRouter = {
  list: protectedProcedure.query(({ ctx }) => webhooks.listWebhooks(ctx.deps, ctx.user.id)),

  create: protectedProcedure
    .input(createWebhookInput)
    .mutation(({ ctx, input }) => webhooks.createWebhook(ctx.deps, ctx.user.id, input, ctx.meta)),

  update: protectedProcedure
    .input(updateWebhookInput)
    .mutation(({ ctx, input }) => webhooks.updateWebhook(ctx.deps, ctx.user.id, input, ctx.meta)),

  remove: protectedProcedure
    .input(webhookIdInput)
    .mutation(({ ctx, input }) =>
      webhooks.removeWebhook(ctx.deps, ctx.user.id, input.id, ctx.meta),
    ),

  rotateSecret: protectedProcedure
    .input(webhookIdInput)
    .mutation(({ ctx, input }) =>
      webhooks.rotateWebhookSecret(ctx.deps, ctx.user.id, input.id, ctx.meta),
    ),

  sendTest: protectedProcedure
    .input(webhookIdInput)
    .mutation(({ ctx, input }) => webhooks.sendTestEvent(ctx.deps, ctx.user.id, input.id)),

  deliveries: protectedProcedure
    .input(webhookIdInput)
    .query(({ ctx, input }) => webhooks.listDeliveries(ctx.deps, ctx.user.id, input.id)),

  redeliver: protectedProcedure
    .input(redeliverInput)
    .mutation(({ ctx, input }) =>
      webhooks.redeliver(ctx.deps, ctx.user.id, input.id, input.delivery_id),
    ),
} satisfies TRPCRouterRecord;
