import type { TRPCRouterRecord } from "@trpc/server";
import { z } from "zod";
import { PASSWORD_MAX_LENGTH, PASSWORD_MIN_LENGTH } from "../auth/password.js";
import * as auth from "../services/auth.js";
import { protectedProcedure, publicProcedure } from "../trpc.js";

const email = z.string().trim().max(254);

export const signUpInput = z.strictObject({
  email: email.pipe(z.email("Enter a valid email address.")),
  password: z
    .string()
    .min(PASSWORD_MIN_LENGTH, `Use at least ${PASSWORD_MIN_LENGTH} characters.`)
    .max(PASSWORD_MAX_LENGTH, `Use at most ${PASSWORD_MAX_LENGTH} characters.`),
});

export const signInInput = z.strictObject({
  email: email.min(1, "Enter your email."),
  password: z.string().min(1, "Enter your password.").max(PASSWORD_MAX_LENGTH),
});

export const authRouter = {
  signUp: publicProcedure.input(signUpInput).mutation(async ({ ctx, input }) => {
    const { user, cookie } = await auth.signUp(ctx.deps, input, ctx.meta, ctx.sessionId);
    ctx.setCookie(cookie);
    return { user };
  }),

  signIn: publicProcedure.input(signInInput).mutation(async ({ ctx, input }) => {
    const { user, cookie } = await auth.signIn(ctx.deps, input, ctx.meta, ctx.sessionId);
    ctx.setCookie(cookie);
    return { user };
  }),

  signOut: protectedProcedure.mutation(async ({ ctx }) => {
    await auth.signOut(ctx.deps, ctx.user, ctx.sessionId, ctx.meta);
    ctx.setCookie(ctx.deps.sessions.blankCookie());
    return { signedOut: true };
  }),

  /** The signed-in user, or null: the SPA asks this to decide which page to show. */
  me: publicProcedure.query(({ ctx }) => ({ user: ctx.user })),
} satisfies TRPCRouterRecord;
