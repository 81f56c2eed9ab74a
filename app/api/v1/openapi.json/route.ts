import { openApiDocument } from "@/lib/api/openapi";
import { ok, v1Route } from "../v1-route";

export const dynamic = "force-dynamic";

export const GET = v1Route("openapi", async () => ok(openApiDocument()));
