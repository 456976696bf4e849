export * from "./schema/index.js";
export * from "./client.js";
export * from "./errors.js";
export { DatabaseUnavailableError } from "./availability.js";
export {
  and,
  asc,
  count,
  desc,
  eq,
  gt,
  gte,
  inArray,
  isNotNull,
  isNull,
  lt,
  lte,
  ne,
  or,
  sql,
} from "drizzle-orm";
