export * from "./schema/index.js";
export * from "./client.js";
export * from "./errors.js";
export { and, asc, count, desc, eq, gt, gte, inArray, isNull, lt, lte, or, sql } from "drizzle-orm";
