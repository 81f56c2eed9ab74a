/** Where to go after signing in: only a local path (no open redirect to another site). */
export const safeNextPath = (next: string | undefined | null) => (next && /^\/(?![/\\])[^\\\s]*$/.test(next) ? next : "/");
