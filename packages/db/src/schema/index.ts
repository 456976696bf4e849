export * from "./users.js";
export * from "./sessions.js";
export * from "./api-keys.js";
export * from "./audit-events.js";
export * from "./usage.js";
