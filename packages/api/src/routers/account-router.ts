import type { TRPCRouterRecord } from "@trpc/server";
import type { RegistrationResponseJSON } from "@simplewebauthn/server";
import { z } from "zod";
import { PASSWORD_MAX_LENGTH, PASSWORD_MIN_LENGTH } from "../auth/password.js";
import * as security from "../services/account-security.js";
import * as passkeys from "../services/passkeys.js";
import { protectedProcedure } from "../trpc.js";

export const newPassword = z
  .string()
  .min(PASSWORD_MIN_LENGTH, `Use at least ${PASSWORD_MIN_LENGTH} characters.`)
  .max(PASSWORD_MAX_LENGTH, `Use at most ${PASSWORD_MAX_LENGTH} characters.`);
const password = z.string().min(1, "Enter your password.").max(PASSWORD_MAX_LENGTH);
/** An email as typed (sign-in compares it normalized); `validEmail` for a new address. */
export const emailText = z.string().trim().max(254);
export const validEmail = emailText.pipe(z.email("Enter a valid email address."));
export const totpCode = z
  .string()
  .trim()
  .regex(/^\d{3}\s?\d{3}$/, "Enter the 6-digit code from your authenticator app.");
export const recoveryCode = z.string().trim().min(1, "Enter a recovery code.").max(64);
const passkeyName = z
  .string()
  .trim()
  .min(1, "Give the passkey a name.")
  .max(100)
  // eslint-disable-next-line no-control-regex
  .regex(/^[^\u0000-\u001f\u007f\u202a-\u202e\u2066-\u2069]*$/, "No control characters.");
/** A WebAuthn response as the browser library produces it; @simplewebauthn checks its content. */
export const webauthnResponse = z.looseObject({
  id: z.string().min(1).max(1024),
  rawId: z.string().min(1).max(1024),
  type: z.literal("public-key"),
  response: z.looseObject({ clientDataJSON: z.string().max(4096) }),
  clientExtensionResults: z.looseObject({}),
});

export const accountRouter = {
  /** What the Security page shows at the top: factors in place, sudo-mode window. */
  overview: protectedProcedure.query(({ ctx }) => security.securityOverview(ctx)),

  sessions: protectedProcedure.query(({ ctx }) => security.listSessions(ctx)),
  endSession: protectedProcedure
    .input(z.strictObject({ id: z.string().regex(/^[0-9a-f]{32}$/, "Unknown session.") }))
    .mutation(async ({ ctx, input }) => {
      await security.endSession(ctx, input.id);
      return { ended: true };
    }),
  endOtherSessions: protectedProcedure.mutation(({ ctx }) => security.endOtherSessions(ctx)),

  reauthenticate: protectedProcedure
    .input(z.union([z.strictObject({ password }), z.strictObject({ code: totpCode })]))
    .mutation(({ ctx, input }) => security.reauthenticate(ctx, input)),

  changePassword: protectedProcedure
    .input(
      z.strictObject({
        current_password: password,
        new_password: newPassword,
        code: totpCode.optional(),
      }),
    )
    .mutation(({ ctx, input }) => security.changePassword(ctx, input)),

  changeEmail: protectedProcedure
    .input(
      z.strictObject({
        password,
        new_email: validEmail,
        code: totpCode.optional(),
      }),
    )
    .mutation(({ ctx, input }) => security.changeEmail(ctx, input)),

  totp: {
    begin: protectedProcedure.mutation(({ ctx }) => security.beginTotpEnrolment(ctx)),
    confirm: protectedProcedure
      .input(z.strictObject({ code: totpCode }))
      .mutation(({ ctx, input }) => security.confirmTotpEnrolment(ctx, input.code)),
    disable: protectedProcedure
      .input(z.strictObject({ password, code: totpCode }))
      .mutation(async ({ ctx, input }) => {
        await security.disableTotp(ctx, input);
        return { disabled: true };
      }),
  },

  recoveryCodes: {
    regenerate: protectedProcedure
      .input(z.strictObject({ password, code: totpCode }))
      .mutation(({ ctx, input }) => security.regenerateRecoveryCodes(ctx, input)),
  },

  passkeys: {
    list: protectedProcedure.query(({ ctx }) => passkeys.listPasskeys(ctx.deps.db, ctx.user.id)),
    registrationOptions: protectedProcedure.mutation(({ ctx }) => {
      security.assertRecentAuth(ctx);
      return passkeys.registrationOptions(ctx);
    }),
    register: protectedProcedure
      .input(z.strictObject({ name: passkeyName, response: webauthnResponse }))
      .mutation(({ ctx, input }) =>
        passkeys.registerPasskey(ctx, {
          name: input.name,
          response: input.response as unknown as RegistrationResponseJSON,
        }),
      ),
    rename: protectedProcedure
      .input(z.strictObject({ id: z.string().min(1).max(1024), name: passkeyName }))
      .mutation(async ({ ctx, input }) => {
        await passkeys.renamePasskey(ctx, input);
        return { renamed: true };
      }),
    remove: protectedProcedure
      .input(z.strictObject({ id: z.string().min(1).max(1024) }))
      .mutation(async ({ ctx, input }) => {
        security.assertRecentAuth(ctx);
        await passkeys.removePasskey(ctx, input);
        return { removed: true };
      }),
  },
} satisfies TRPCRouterRecord;
