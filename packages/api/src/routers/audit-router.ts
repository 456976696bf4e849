import type { TRPCRouterRecord } from "@trpc/server";
import { z } from "zod";
import { listAudit } from "../services/audit-log.js";
import { protectedProcedure } from "../trpc.js";

export const auditListInput = z.strictObject({
  limit: z.int().min(1).max(100).default(50),
  cursor: z.int().positive().optional(),
});

export const auditRouter = {
  /** The signed-in account's own audit trail, newest first. */
  list: protectedProcedure
    .input(auditListInput)
    .query(({ ctx, input }) => listAudit(ctx.deps.db, ctx.user.id, input)),
} satisfies TRPCRouterRecord;
