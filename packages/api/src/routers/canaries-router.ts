import type { TRPCRouterRecord } from "@trpc/server";
import {
  canaryIdInput,
  canaryListOutput,
  canaryTriggersOutput,
  createCanaryInput,
  createCanaryOutput,
  retireCanaryOutput,
} from "../canaries/schemas.js";
import * as canaries from "../services/canary-service.js";
import { protectedProcedure } from "../trpc.js";

export const canariesRouter = {
  list: protectedProcedure
    .output(canaryListOutput)
    .query(({ ctx }) => canaries.listCanaries(ctx.deps.db, ctx.user.id)),

  create: protectedProcedure
    .input(createCanaryInput)
    .output(createCanaryOutput)
    .mutation(async ({ ctx, input }) => {
      await ctx.deps.throttle.beginKeyCreate(ctx.user.id);
      return canaries.createCanary(ctx.deps, ctx.user.id, input, ctx.meta);
    }),

  retire: protectedProcedure
    .input(canaryIdInput)
    .output(retireCanaryOutput)
    .mutation(({ ctx, input }) => canaries.retireCanary(ctx.deps, ctx.user.id, input.id, ctx.meta)),

  triggers: protectedProcedure
    .input(canaryIdInput)
    .output(canaryTriggersOutput)
    .query(({ ctx, input }) => canaries.listCanaryTriggers(ctx.deps.db, ctx.user.id, input.id)),
} satisfies TRPCRouterRecord;
