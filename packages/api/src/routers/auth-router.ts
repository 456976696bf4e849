import type { TRPCRouterRecord } from "@trpc/server";
import { z } from "zod";
import type { AuthenticationResponseJSON } from "@simplewebauthn/server";
import { PASSWORD_MAX_LENGTH, PASSWORD_MIN_LENGTH } from "../auth/password.js";
import { resetPasswordWithToken } from "../services/account-admin.js";
import * as auth from "../services/auth-service.js";
import { signInOptions, verifySignIn } from "../services/passkeys.js";
import {
  emailText,
  newPassword,
  recoveryCode,
  totpCode,
  validEmail,
  webauthnResponse,
} from "./account-router.js";
import { protectedProcedure, publicProcedure } from "../trpc.js";

export const signUpInput = z.strictObject({
  email: validEmail,
  password: z
    .string()
    .min(PASSWORD_MIN_LENGTH, `Use at least ${PASSWORD_MIN_LENGTH} characters.`)
    .max(PASSWORD_MAX_LENGTH, `Use at most ${PASSWORD_MAX_LENGTH} characters.`),
});

export const signInInput = z.strictObject({
  email: emailText.min(1, "Enter your email."),
  password: z.string().min(1, "Enter your password.").max(PASSWORD_MAX_LENGTH),
});

export const authRouter = {
  signUp: publicProcedure.input(signUpInput).mutation(async ({ ctx, input }) => {
    const { user, cookie } = await auth.signUp(ctx.deps, input, ctx.meta, ctx.sessionId);
    ctx.setCookie(cookie);
    return { user };
  }),

  /** `{user}` with the session cookie, or `{second_factor_required, methods}` and no session. */
  signIn: publicProcedure.input(signInInput).mutation(async ({ ctx, input }) => {
    const result = await auth.signIn(ctx.deps, input, ctx.meta, ctx.sessionId);
    ctx.setCookie(result.cookie);
    if (result.kind === "second_factor") {
      return { second_factor_required: true as const, methods: result.methods };
    }
    return { user: result.user };
  }),

  verifySecondFactor: publicProcedure
    .input(
      z.union([
        z.strictObject({ code: totpCode }),
        z.strictObject({ recovery_code: recoveryCode }),
      ]),
    )
    .mutation(async ({ ctx, input }) => {
      const { user, cookie } = await auth.verifySecondFactor(
        ctx.deps,
        ctx.cookieHeader,
        input,
        ctx.meta,
        ctx.sessionId,
      );
      ctx.setCookie(ctx.deps.sessions.challengeCookie(null));
      ctx.setCookie(cookie);
      return { user };
    }),

  passkey: {
    options: publicProcedure.mutation(async ({ ctx }) => {
      const { options, cookie } = await signInOptions(ctx.deps);
      ctx.setCookie(cookie);
      return options;
    }),
    verify: publicProcedure
      .input(z.strictObject({ response: webauthnResponse }))
      .mutation(async ({ ctx, input }) => {
        const { userId } = await verifySignIn(
          ctx.deps,
          ctx.cookieHeader,
          input.response as unknown as AuthenticationResponseJSON,
          ctx.meta,
        );
        const { user, cookie } = await auth.signInAs(
          ctx.deps,
          userId,
          "passkey",
          ctx.meta,
          ctx.sessionId,
        );
        ctx.setCookie(ctx.deps.sessions.challengeCookie(null));
        ctx.setCookie(cookie);
        return { user };
      }),
  },

  /** Sets a new password from an operator's one-time reset link. */
  resetPassword: publicProcedure
    .input(
      z.strictObject({
        token: z.string().regex(/^[A-Za-z0-9_-]{43}$/, "This reset link is not valid."),
        new_password: newPassword,
      }),
    )
    .mutation(async ({ ctx, input }) => {
      await resetPasswordWithToken(ctx.deps, input, ctx.meta);
      return { reset: true };
    }),

  signOut: protectedProcedure.mutation(async ({ ctx }) => {
    await auth.signOut(ctx.deps, ctx.user, ctx.sessionId, ctx.meta);
    ctx.setCookie(ctx.deps.sessions.blankCookie());
    return { signedOut: true };
  }),

  /** The signed-in user, or null: the SPA asks this to decide which page to show. */
  me: publicProcedure.query(({ ctx }) => ({ user: ctx.user })),
} satisfies TRPCRouterRecord;
