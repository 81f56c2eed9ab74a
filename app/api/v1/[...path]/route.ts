import { v1NotFound } from "../v1-route";

export const dynamic = "force-dynamic";

/** Unknown API paths answer JSON (401 or 404), never the HTML 404 page. */
export { v1NotFound as GET, v1NotFound as POST, v1NotFound as PUT, v1NotFound as PATCH, v1NotFound as DELETE };
