/**
 * The actions the audit log records (pure: the Audit page offers them as filter suggestions, the docs list them).
 * A group is the part before the dot (`run` = every `run.…`).
 */
export const AUDIT_ACTIONS = [
  "workflow.create",
  "workflow.save",
  "workflow.restore",
  "workflow.delete",
  "workflow.share",
  "workflow.unshare",
  "webhook.enable",
  "webhook.rotate",
  "webhook.disable",
  "webhook.settings",
  "run.start",
  "run.cancel",
  "run.resume",
  "run.rewind",
  "run.fork",
  "run.approve",
  "run.reject",
  "run.callback",
  "settings.gateway",
  "settings.httpAllow",
  "settings.prices",
  "settings.defaultModel",
  "settings.retention",
  "secret.create",
  "secret.replace",
  "secret.delete",
  "user.setup",
  "user.add",
  "user.role",
  "user.remove",
  "user.update",
  "user.password",
  "user.signIn",
  "user.signOut",
  "token.create",
  "token.revoke",
] as const;

export const AUDIT_TARGET_TYPES = ["workflow", "webhook", "run", "settings", "secret", "user", "token"] as const;
