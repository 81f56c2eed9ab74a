import { serverRuntime } from "@/app/_server/runtime";

/** Better Auth's endpoints (sign-in, sign-out, session), served by the runtime's instance (lib/auth/auth.ts). */
async function handle(request: Request): Promise<Response> {
  const { auth } = await serverRuntime();
  return auth.handler(request);
}

export const GET = handle;
export const POST = handle;
