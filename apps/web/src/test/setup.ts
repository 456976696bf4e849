import { cleanup, configure } from "@testing-library/react";
import { afterEach } from "vitest";

// findBy*/waitFor give up after 1 s by default; a loaded 2-core CI machine can take longer
// to render (they return as soon as the element appears, so this costs nothing otherwise).
configure({ asyncUtilTimeout: 10_000 });

afterEach(() => cleanup());
