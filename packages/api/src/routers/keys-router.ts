import type { TRPCRouterRecord } from "@trpc/server";
import {
  allowanceOutput,
  createKeyInput,
  createKeyOutput,
  keyAddressesOutput,
  keyDetailOutput,
  keyIdInput,
  keyListOutput,
  keyUsageInput,
  revokeKeyInput,
  revokeKeyOutput,
  rotateKeyInput,
  rotateKeyOutput,
  updateKeyInput,
} from "../keys/schemas.js";
import { getKeyAddresses } from "../services/key-addresses.js";
import { rotateKey, updateKey } from "../services/key-lifecycle.js";
import * as keys from "../services/key-service.js";
import { getKeyUsage } from "../services/usage-analytics.js";
import { protectedProcedure } from "../trpc.js";

// Output schemas double as an allow-list: a field not declared there never leaves the server.
export const keysRouter = {
  list: protectedProcedure
    .output(keyListOutput)
    .query(({ ctx }) => keys.listKeys(ctx.deps.db, ctx.user.id)),

  byId: protectedProcedure
    .input(keyIdInput)
    .output(keyDetailOutput)
    .query(({ ctx, input }) => keys.getKey(ctx.deps.db, ctx.user.id, input.id)),

  // No output parse here: the analytics are built field by field from aggregates (never from a
  // row), and validating ~500 dated entries per response doubled its CPU cost (bench/).
  usage: protectedProcedure
    .input(keyUsageInput)
    .query(({ ctx, input }) =>
      getKeyUsage(ctx.deps.db, ctx.user.id, input.id, input.days, ctx.deps.now()),
    ),

  allowance: protectedProcedure
    .output(allowanceOutput)
    .query(({ ctx }) => keys.keyAllowance(ctx.deps.db, ctx.user.id, ctx.deps.now())),

  create: protectedProcedure
    .input(createKeyInput)
    .output(createKeyOutput)
    .mutation(async ({ ctx, input }) => {
      await ctx.deps.throttle.beginKeyCreate(ctx.user.id);
      return keys.createKey(ctx.deps, ctx.user.id, input, ctx.meta);
    }),

  // Minting a successor costs what a create costs: the same per-account throttle.
  rotate: protectedProcedure
    .input(rotateKeyInput)
    .output(rotateKeyOutput)
    .mutation(async ({ ctx, input }) => {
      await ctx.deps.throttle.beginKeyCreate(ctx.user.id);
      return rotateKey(ctx.deps, ctx.user.id, input, ctx.meta);
    }),

  update: protectedProcedure
    .input(updateKeyInput)
    .output(keyDetailOutput)
    .mutation(({ ctx, input }) => updateKey(ctx.deps, ctx.user.id, input, ctx.meta)),

  addresses: protectedProcedure
    .input(keyIdInput)
    .output(keyAddressesOutput)
    .query(({ ctx, input }) => getKeyAddresses(ctx.deps.db, ctx.user.id, input.id, ctx.deps.now())),

  revoke: protectedProcedure
    .input(revokeKeyInput)
    .output(revokeKeyOutput)
    .mutation(({ ctx, input }) => keys.revokeKey(ctx.deps, ctx.user.id, input, ctx.meta)),
} satisfies TRPCRouterRecord;
