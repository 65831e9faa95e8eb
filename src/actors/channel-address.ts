/**
 * The address a connection's push channel is registered with (GDRIVE_CHANNEL_ADDRESS).
 *
 * Google posts nothing but X-Goog-* headers, so whatever receives the notification learns
 * the connection only from the address itself. Two forms:
 * - a template with `{connection_id}` (and optionally `{customer_id}`), filled in URL-encoded,
 *   for a webhook proxy with its own address scheme;
 * - a plain base such as `https://hooks.example.com/webhooks/google-drive`, to which the
 *   connection id is appended as a path segment and the customer id as `?customer_id=`:
 *   exactly what the worker's own ingress (`POST /webhooks/google-drive/:connectionId`,
 *   HTTP_WEBHOOK_INGRESS) reads.
 */
export function channelAddressFor(
  configured: string,
  ids: { readonly connectionId: string; readonly customerId: string },
): string {
  if (configured.includes('{connection_id}')) {
    return configured
      .replaceAll('{connection_id}', encodeURIComponent(ids.connectionId))
      .replaceAll('{customer_id}', encodeURIComponent(ids.customerId));
  }
  const url = new URL(configured);
  url.pathname = `${url.pathname.replace(/\/+$/, '')}/${encodeURIComponent(ids.connectionId)}`;
  url.searchParams.set('customer_id', ids.customerId);
  return url.toString();
}
