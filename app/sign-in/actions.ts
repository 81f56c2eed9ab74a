"use server";

import { z } from "zod";
import { runPublicAction } from "@/app/_server/action";
import { serverRuntime } from "@/app/_server/runtime";
import { claimOwner, Email, Password, UserName } from "@/lib/auth/users";

const SetupForm = z.object({ email: Email, name: UserName.optional(), password: Password });

/**
 * First-run setup: the owner's email, name and password (refused once set). The browser then signs in with them
 * through Better Auth's endpoint, which sets the session cookie.
 */
export async function setUpOwner(form: z.input<typeof SetupForm>) {
  return runPublicAction("setUpOwner", async () => {
    const { db } = await serverRuntime();
    const owner = await claimOwner(db, SetupForm.parse(form));
    return { email: owner.email };
  });
}
