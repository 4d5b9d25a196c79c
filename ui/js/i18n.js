// The tracking page's words, in the customer's language, and its dates in the customer's
// time zone (the browser's). A message is looked up by key; `{name}` in it is replaced by the
// value given, as text (the page inserts every message with textContent).

export const LANGUAGES = { en: 'English', de: 'Deutsch' };
const LOCALES = { en: 'en-GB', de: 'de-DE' };

const MESSAGES = {
  en: {
    'page.title': 'Track your order',
    'lang.label': 'Language',
    'lookup.title': 'Track your order',
    'lookup.lead': 'Enter your order number and the email address or postcode you ordered with.',
    'lookup.number': 'Order number',
    'lookup.secret': 'Email or postcode',
    'lookup.submit': 'Track order',
    'lookup.missing': 'Enter your order number and your email address or postcode.',
    'lookup.nomatch':
      'We could not find an order with this number and this email address or postcode. Please check both against your order confirmation.',
    'lookup.throttled': 'Too many attempts. Please wait {secs} seconds and try again.',
    'lookup.noshop': 'This page needs the tracking link from your shop. Open it again from the shop’s email or website.',
    'link.invalid': 'This tracking link is not valid. It may have been copied incompletely.',
    'link.expired': 'This tracking link has expired.',
    'link.revoked': 'The shop has replaced this tracking link. Use the newest link it sent you.',
    'link.lookup': 'You can still look your order up with its number:',
    'error.load': 'The page could not be loaded. Check your connection and reload the page.',
    'order.title': 'Order {number}',
    'order.untitled': 'Your order',
    'order.placed': 'Placed {date}',
    'order.promised': 'Expected by {date}',
    'order.items': 'Items',
    'order.greeting': 'Hello {name}, here is where your order is.',
    'order.noparcels': 'Your order has not been handed to a carrier yet. This page shows its parcels as soon as they are on their way.',
    'progress.received': 'Order received',
    'progress.in_preparation': 'In preparation',
    'progress.shipped': 'Shipped',
    'progress.delivered': 'Delivered',
    'progress.cancelled': 'Cancelled',
    'parcel.title': 'Parcel {i} of {n}',
    'parcel.only': 'Your parcel',
    'parcel.number': 'Tracking number',
    'parcel.carrier': 'See it at {carrier}',
    'stage.ordered': 'Ordered',
    'stage.shipped': 'Shipped',
    'stage.in_transit': 'In transit',
    'stage.out_for_delivery': 'Out for delivery',
    'stage.delivered': 'Delivered',
    'stage.done': 'done',
    'stage.current': 'current step',
    'stage.todo': 'not reached yet',
    'status.pending': 'Not scanned yet',
    'status.info_received': 'Label created',
    'status.in_transit': 'In transit',
    'status.out_for_delivery': 'Out for delivery',
    'status.available_for_pickup': 'Ready for pickup',
    'status.delivered': 'Delivered',
    'status.failed_attempt': 'Delivery attempt failed',
    'status.exception': 'Delayed: the carrier reports a problem',
    'status.returned': 'Returned to the shop',
    'status.expired': 'No news from the carrier for a long time',
    'status.unknown': 'Status unknown',
    'eta.title': 'Expected delivery',
    'eta.today': 'Today',
    'eta.window': '{from} – {to}',
    'eta.likely': 'Most likely: {date}',
    'eta.confidence': '{p} of parcels like this one arrive in this window',
    'eta.none': 'No estimate yet. One appears as soon as the carrier has your parcel.',
    'eta.orders': 'From the shop\'s last {n} orders: {p} arrived in this window. Once the carrier has your parcel, its own estimate follows.',
    'delivered.title': 'Delivered',
    'events.title': 'Tracking history',
    'events.none': 'No scans yet.',
    'map.title': 'Route',
    'delivery.title': 'Delivering to',
    'live.on': 'This page updates by itself.',
    'live.updated': 'Updated just now.',
    'link.valid': 'This link works until {date}.',
    'notify.title': 'Updates about this order',
    'notify.lead': 'Choose how the shop tells you when something changes.',
    'notify.email': 'By email',
    'notify.sms': 'By text message (SMS)',
    'notify.saved': 'Saved.',
    'notify.push': 'In this browser',
    'news.title': 'Tell me when my parcel',
    'news.shipped': 'is on its way',
    'news.out_for_delivery': 'is out for delivery',
    'news.ready_for_pickup': 'is ready for pickup',
    'news.delivered': 'has been delivered',
    'news.problems': 'is delayed or has a problem',
    'notify.quiet': 'No messages between {start} and {end} your time: news waits until then.',
    'notify.quiet.delivered': 'No messages between {start} and {end} your time, except that your parcel was delivered.',
    'notify.push.blocked': 'Notifications are blocked for this page in your browser\'s settings.',
    'notify.push.failed': 'This browser could not turn notifications on. Please try again later.',
    'unsub.title': 'Stop emails about this order?',
    'unsub.lead': 'You will get no more emails about this order. Its tracking page keeps working.',
    'unsub.button': 'Stop emails',
    'unsub.done': 'Done: you will get no more emails about this order.',
    'req.title': 'Change or cancel your order',
    'req.lead': 'Ask the shop for a change. It answers here and by email.',
    'req.kind': 'What would you like?',
    'req.kind.address': 'Deliver to another address',
    'req.kind.instructions': 'Add delivery instructions',
    'req.kind.cancel': 'Cancel the order',
    'req.address': 'New delivery address',
    'req.postcode': 'Postcode',
    'req.instructions': 'Instructions for the courier',
    'req.reason': 'Reason (optional)',
    'req.send': 'Send to the shop',
    'req.sent': 'Sent. The shop will answer here and by email.',
    'req.missing': 'Please fill in the address or instructions.',
    'req.withdraw': 'Withdraw request',
    'req.withdrawn.done': 'Your request is withdrawn.',
    'req.none': 'Changes are no longer possible: {why}.',
    'req.why.cancelled': 'the order is cancelled',
    'req.why.out_for_delivery': 'the parcel is already out for delivery',
    'req.why.shipped': 'the order has already shipped',
    'req.state.open': 'Waiting for the shop',
    'req.state.approved': 'Accepted',
    'req.state.rejected': 'Declined',
    'req.state.withdrawn': 'Withdrawn',
    'req.asked': 'Asked on {date}',
    'req.shop_said': 'The shop: {note}',
    'fb.title': 'How did the delivery go?',
    'fb.rating': 'Your rating',
    'fb.star': '{n} of 5',
    'fb.comment': 'Anything to add? (optional)',
    'fb.send': 'Send feedback',
    'fb.update': 'Update feedback',
    'fb.thanks': 'Thank you! You rated this delivery {n} of 5.',
    'fb.until': 'You can change it until {date}.',
    'fb.missing': 'Please choose a rating from 1 to 5.',
  },
  de: {
    'page.title': 'Bestellung verfolgen',
    'lang.label': 'Sprache',
    'lookup.title': 'Bestellung verfolgen',
    'lookup.lead': 'Geben Sie Ihre Bestellnummer und die E-Mail-Adresse oder Postleitzahl Ihrer Bestellung ein.',
    'lookup.number': 'Bestellnummer',
    'lookup.secret': 'E-Mail oder Postleitzahl',
    'lookup.submit': 'Bestellung verfolgen',
    'lookup.missing': 'Bitte geben Sie Ihre Bestellnummer und Ihre E-Mail-Adresse oder Postleitzahl ein.',
    'lookup.nomatch':
      'Wir haben keine Bestellung mit dieser Nummer und dieser E-Mail-Adresse oder Postleitzahl gefunden. Bitte vergleichen Sie beides mit Ihrer Bestellbestätigung.',
    'lookup.throttled': 'Zu viele Versuche. Bitte warten Sie {secs} Sekunden und versuchen Sie es erneut.',
    'lookup.noshop': 'Diese Seite braucht den Sendungslink Ihres Shops. Öffnen Sie ihn bitte erneut aus der E-Mail oder von der Website des Shops.',
    'link.invalid': 'Dieser Sendungslink ist ungültig. Vielleicht wurde er unvollständig kopiert.',
    'link.expired': 'Dieser Sendungslink ist abgelaufen.',
    'link.revoked': 'Der Shop hat diesen Sendungslink ersetzt. Bitte nutzen Sie den neuesten Link, den Sie erhalten haben.',
    'link.lookup': 'Sie können Ihre Bestellung weiterhin mit der Bestellnummer finden:',
    'error.load': 'Die Seite konnte nicht geladen werden. Prüfen Sie Ihre Verbindung und laden Sie die Seite neu.',
    'order.title': 'Bestellung {number}',
    'order.untitled': 'Ihre Bestellung',
    'order.placed': 'Bestellt am {date}',
    'order.promised': 'Erwartet bis {date}',
    'order.items': 'Artikel',
    'order.greeting': 'Hallo {name}, hier sehen Sie, wo Ihre Bestellung gerade ist.',
    'order.noparcels': 'Ihre Bestellung wurde noch keinem Versanddienst übergeben. Sobald sie unterwegs ist, zeigt diese Seite ihre Pakete.',
    'progress.received': 'Bestellung eingegangen',
    'progress.in_preparation': 'In Vorbereitung',
    'progress.shipped': 'Versandt',
    'progress.delivered': 'Zugestellt',
    'progress.cancelled': 'Storniert',
    'parcel.title': 'Paket {i} von {n}',
    'parcel.only': 'Ihr Paket',
    'parcel.number': 'Sendungsnummer',
    'parcel.carrier': 'Bei {carrier} ansehen',
    'stage.ordered': 'Bestellt',
    'stage.shipped': 'Versandt',
    'stage.in_transit': 'Unterwegs',
    'stage.out_for_delivery': 'In Zustellung',
    'stage.delivered': 'Zugestellt',
    'stage.done': 'erledigt',
    'stage.current': 'aktueller Schritt',
    'stage.todo': 'noch nicht erreicht',
    'status.pending': 'Noch nicht erfasst',
    'status.info_received': 'Versandetikett erstellt',
    'status.in_transit': 'Unterwegs',
    'status.out_for_delivery': 'In Zustellung',
    'status.available_for_pickup': 'Zur Abholung bereit',
    'status.delivered': 'Zugestellt',
    'status.failed_attempt': 'Zustellversuch fehlgeschlagen',
    'status.exception': 'Verzögert: der Versanddienst meldet ein Problem',
    'status.returned': 'Zurück an den Shop',
    'status.expired': 'Lange keine Nachricht vom Versanddienst',
    'status.unknown': 'Status unbekannt',
    'eta.title': 'Voraussichtliche Zustellung',
    'eta.today': 'Heute',
    'eta.window': '{from} – {to}',
    'eta.likely': 'Am wahrscheinlichsten: {date}',
    'eta.confidence': '{p} der Pakete wie dieses kommen in diesem Zeitraum an',
    'eta.none': 'Noch keine Schätzung. Sie erscheint, sobald der Versanddienst Ihr Paket hat.',
    'eta.orders': 'Aus den letzten {n} Bestellungen des Shops: {p} kamen in diesem Zeitraum an. Sobald der Versanddienst Ihr Paket hat, folgt seine eigene Schätzung.',
    'delivered.title': 'Zugestellt',
    'events.title': 'Sendungsverlauf',
    'events.none': 'Noch keine Scans.',
    'map.title': 'Route',
    'delivery.title': 'Lieferadresse',
    'live.on': 'Diese Seite aktualisiert sich von selbst.',
    'live.updated': 'Gerade aktualisiert.',
    'link.valid': 'Dieser Link gilt bis {date}.',
    'notify.title': 'Nachrichten zu dieser Bestellung',
    'notify.lead': 'Wählen Sie, wie der Shop Ihnen Neuigkeiten mitteilt.',
    'notify.email': 'Per E-Mail',
    'notify.sms': 'Per SMS',
    'notify.saved': 'Gespeichert.',
    'notify.push': 'In diesem Browser',
    'news.title': 'Benachrichtigen, wenn meine Sendung',
    'news.shipped': 'unterwegs ist',
    'news.out_for_delivery': 'in Zustellung ist',
    'news.ready_for_pickup': 'zur Abholung bereitliegt',
    'news.delivered': 'zugestellt wurde',
    'news.problems': 'sich verspätet oder ein Problem hat',
    'notify.quiet': 'Keine Nachrichten zwischen {start} und {end} Uhr Ihrer Zeit: Neuigkeiten warten bis dahin.',
    'notify.quiet.delivered': 'Keine Nachrichten zwischen {start} und {end} Uhr Ihrer Zeit, außer der Zustellung.',
    'notify.push.blocked': 'Mitteilungen sind für diese Seite in den Einstellungen Ihres Browsers blockiert.',
    'notify.push.failed': 'Dieser Browser konnte Mitteilungen nicht einschalten. Bitte versuchen Sie es später noch einmal.',
    'unsub.title': 'Keine E-Mails mehr zu dieser Bestellung?',
    'unsub.lead': 'Sie erhalten dann keine E-Mails mehr zu dieser Bestellung. Die Sendungsverfolgung funktioniert weiterhin.',
    'unsub.button': 'E-Mails abbestellen',
    'unsub.done': 'Erledigt: Sie erhalten keine E-Mails mehr zu dieser Bestellung.',
    'req.title': 'Bestellung ändern oder stornieren',
    'req.lead': 'Bitten Sie den Shop um eine Änderung. Er antwortet hier und per E-Mail.',
    'req.kind': 'Was möchten Sie?',
    'req.kind.address': 'An eine andere Adresse liefern',
    'req.kind.instructions': 'Hinweis für die Zustellung',
    'req.kind.cancel': 'Bestellung stornieren',
    'req.address': 'Neue Lieferadresse',
    'req.postcode': 'Postleitzahl',
    'req.instructions': 'Hinweis für den Zusteller',
    'req.reason': 'Grund (freiwillig)',
    'req.send': 'An den Shop senden',
    'req.sent': 'Gesendet. Der Shop antwortet hier und per E-Mail.',
    'req.missing': 'Bitte geben Sie die Adresse oder den Hinweis ein.',
    'req.withdraw': 'Anfrage zurückziehen',
    'req.withdrawn.done': 'Ihre Anfrage ist zurückgezogen.',
    'req.none': 'Änderungen sind nicht mehr möglich: {why}.',
    'req.why.cancelled': 'die Bestellung ist storniert',
    'req.why.out_for_delivery': 'das Paket ist bereits in der Zustellung',
    'req.why.shipped': 'die Bestellung ist bereits verschickt',
    'req.state.open': 'Wartet auf den Shop',
    'req.state.approved': 'Angenommen',
    'req.state.rejected': 'Abgelehnt',
    'req.state.withdrawn': 'Zurückgezogen',
    'req.asked': 'Angefragt am {date}',
    'req.shop_said': 'Der Shop: {note}',
    'fb.title': 'Wie war die Zustellung?',
    'fb.rating': 'Ihre Bewertung',
    'fb.star': '{n} von 5',
    'fb.comment': 'Möchten Sie etwas ergänzen? (freiwillig)',
    'fb.send': 'Bewertung senden',
    'fb.update': 'Bewertung ändern',
    'fb.thanks': 'Danke! Sie haben diese Zustellung mit {n} von 5 bewertet.',
    'fb.until': 'Sie können sie bis {date} ändern.',
    'fb.missing': 'Bitte wählen Sie eine Bewertung von 1 bis 5.',
  },
};

let lang = 'en';

/** The language: `?lang=`, else the one chosen before, else the browser's first we speak,
 * else `fallback` (the tracking page passes null, then takes the order's when it knows it). */
export function chooseLanguage(search = location.search, stored = null, preferred = navigator.languages || [], fallback = 'en') {
  const asked = new URLSearchParams(search).get('lang');
  for (const l of [asked, stored, ...preferred]) {
    const base = typeof l === 'string' ? l.toLowerCase().split('-')[0] : null;
    if (base && MESSAGES[base]) return base;
  }
  return fallback;
}

export function setLanguage(l) {
  lang = MESSAGES[l] ? l : 'en';
  document.documentElement.lang = lang;
}

export function language() {
  return lang;
}

/** The message `key` in the page's language, `{name}`s filled in from `vars`. */
export function t(key, vars = {}) {
  const m = MESSAGES[lang][key] ?? MESSAGES.en[key] ?? key;
  return m.replace(/\{(\w+)\}/g, (all, name) => (name in vars ? String(vars[name]) : all));
}

const formats = new Map();
function format(options) {
  const key = `${lang}:${JSON.stringify(options)}`;
  let f = formats.get(key);
  if (!f) {
    f = new Intl.DateTimeFormat(LOCALES[lang], options);
    formats.set(key, f);
  }
  return f;
}

function toDate(v) {
  if (!v) return null;
  const d = new Date(v);
  return Number.isNaN(d.getTime()) ? null : d;
}

const sameYear = (d) => d.getFullYear() === new Date().getFullYear();

/** "Tue 4 Jun, 14:05" in the visitor's time zone (with the year when not this year). */
export function dateTime(v) {
  const d = toDate(v);
  if (!d) return '';
  return format({
    weekday: 'short',
    day: 'numeric',
    month: 'short',
    year: sameYear(d) ? undefined : 'numeric',
    hour: '2-digit',
    minute: '2-digit',
  }).format(d);
}

/** "Tue 4 Jun". */
export function day(v) {
  const d = toDate(v);
  if (!d) return '';
  return format({ weekday: 'short', day: 'numeric', month: 'short', year: sameYear(d) ? undefined : 'numeric' }).format(d);
}

/** "14:05". */
export function time(v) {
  const d = toDate(v);
  return d ? format({ hour: '2-digit', minute: '2-digit' }).format(d) : '';
}

/** The local calendar day of `v`, as YYYY-MM-DD. */
function ymd(d) {
  return `${d.getFullYear()}-${d.getMonth() + 1}-${d.getDate()}`;
}

/** Whether two instants fall on one local day. */
export function sameDay(a, b) {
  const x = toDate(a);
  const y = toDate(b);
  return Boolean(x && y && ymd(x) === ymd(y));
}

/** A delivery window in words: "Today, 10:00 – 14:00" or "Tue 4 Jun – Thu 6 Jun". */
export function dateWindow(earliest, latest) {
  const a = toDate(earliest);
  const b = toDate(latest);
  if (!a || !b) return '';
  if (ymd(a) === ymd(b)) {
    const dayWord = ymd(a) === ymd(new Date()) ? t('eta.today') : day(a);
    return `${dayWord}, ${t('eta.window', { from: time(a), to: time(b) })}`;
  }
  return t('eta.window', { from: day(a), to: day(b) });
}

/** 0.8 → "80 %" as the language writes it. */
export function percent(x) {
  return new Intl.NumberFormat(LOCALES[lang], { style: 'percent', maximumFractionDigits: 0 }).format(x);
}
