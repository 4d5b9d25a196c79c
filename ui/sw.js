// The tracking page's service worker: shows the shop's Web Push messages about an order, and
// opens the order's page when one is clicked. A message is data: its words become the
// notification's text, never markup, and only this server's pages are opened.

self.addEventListener('push', (event) => {
  let m = {};
  try {
    m = event.data ? event.data.json() : {};
  } catch {
    m = {};
  }
  const text = (v, fallback) => (typeof v === 'string' && v ? v : fallback);
  event.waitUntil(
    self.registration.showNotification(text(m.title, 'Order update'), {
      body: text(m.body, ''),
      tag: text(m.tag, undefined),
      data: { url: text(m.url, '/track') },
    }),
  );
});

self.addEventListener('notificationclick', (event) => {
  event.notification.close();
  let target = '/track';
  try {
    const url = new URL(event.notification.data.url, self.location.origin);
    if (url.origin === self.location.origin) target = url.href;
  } catch {
    // Not a URL: the lookup page.
  }
  event.waitUntil(self.clients.openWindow(target));
});
