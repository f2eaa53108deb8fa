// The TypeScript client of the imagestore API: openapi-fetch typed by the paths openapi-typescript generates from
// docs/openapi.json ("imagestore-api", build/openapi-ts/imagestore.d.ts; tsconfig.json). Every path, parameter,
// body and answer of a call is checked against the contract at compile time.
import createClient, { type Client } from "openapi-fetch";
import type { components, paths } from "imagestore-api";

export type Schemas = components["schemas"];
export type ImagestoreClient = Client<paths>;

/** A client of one imagestore API (the File or the Project API, or the local stack's merged one). */
export function imagestoreClient(baseUrl: string, token: string | (() => string)): ImagestoreClient {
  const client = createClient<paths>({ baseUrl: baseUrl.replace(/\/+$/, "") });
  client.use({
    onRequest({ request }) {
      request.headers.set("Authorization", `Bearer ${typeof token === "function" ? token() : token}`);
      return request;
    },
  });
  return client;
}

/** The main flow of a desktop page, as the compiler sees it: a mobile upload whose QR is an <img>, a project saved
 * with If-Match. A renamed field or route in the contract fails `tsc`. */
export async function openPhoneLinkAndSaveBook(
  client: ImagestoreClient,
  img: HTMLImageElement,
  projectId: string,
): Promise<Schemas["ProjectView"] | undefined> {
  const mobile = await client.POST("/mobile-uploads", { body: { retention: "session" } });
  if (mobile.data) img.src = mobile.data.qr.dataUrl;
  const current = await client.GET("/projects/{projectId}", { params: { path: { projectId } } });
  if (!current.data) return undefined;
  const etag = current.response.headers.get("ETag") ?? String(current.data.version);
  const saved = await client.PUT("/projects/{projectId}", {
    params: { path: { projectId }, header: { "If-Match": etag } },
    body: { name: current.data.name, productType: current.data.productType, document: current.data.document },
  });
  if (saved.error) throw new Error(`${saved.error.error.code}: ${saved.error.error.message}`);
  return saved.data;
}
