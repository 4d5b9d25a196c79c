// The staff, the owner's to manage: who signs in, an invitation (a one-time link to set a
// password, shown once for the owner to pass on), a new link for a forgotten password, and
// removing someone (signed out everywhere at once).

import { h, replace } from './dom.js';
import * as fmt from './format.js';
import { api } from './dash-api.js';
import { field, panel, shownOnce, status, statusLine, twoStep } from './dash-form.js';

const ROLES = { owner: 'Owner: everything, settings included', staff: 'Staff: orders, requests and analytics' };

function linkShown(made, what) {
  return shownOnce(`${what} for ${made.member.email}: send it to them. It works once, until ${fmt.dateTime(made.expires_at)}, and is not shown again.`, made.setup_url, `The link for ${made.member.email}`);
}

function staffTable(list, draw, msg) {
  const rows = list.staff.map((m) => {
    const link = h(
      'button',
      {
        class: 'btn btn--ghost btn--small',
        type: 'button',
        onclick: async () => {
          try {
            const made = await api('POST', `staff/${m.id}/setup-link`);
            draw(`A new link for ${m.email}: their older one no longer works.`, linkShown(made, m.password_set ? 'A link to set a new password' : 'The invitation again'));
          } catch (err) {
            status(msg, err.message, false);
          }
        },
      },
      m.password_set ? 'New password link' : 'New invitation link',
    );
    const remove = m.you
      ? null
      : twoStep('Remove', 'Remove: they are signed out now', async () => {
          try {
            await api('DELETE', `staff/${m.id}`);
            draw(`Removed ${m.email}.`);
          } catch (err) {
            status(msg, err.message, false);
          }
        }, 'btn btn--ghost btn--small');
    const state = m.password_set ? 'Signs in' : 'Invited, no password yet';
    return h(
      'tr',
      { dataset: { staff: m.id } },
      h('th', { scope: 'row' }, m.email, m.you ? h('span', { class: 'muted' }, ' (you)') : null),
      h('td', null, m.role === 'owner' ? 'Owner' : 'Staff'),
      h('td', null, state),
      h('td', null, fmt.relative(m.created_at)),
      h('td', null, h('div', { class: 'row' }, m.you ? null : link, remove)),
    );
  });
  return h(
    'div',
    { class: 'dash-table-wrap' },
    h('table', { class: 'dash-table dash-staff', 'aria-label': 'Staff' }, h('thead', null, h('tr', null, ['Who', 'Role', 'State', 'Added', ''].map((c) => h('th', { scope: 'col' }, c)))), h('tbody', null, rows)),
  );
}

function inviteForm(draw) {
  const email = h('input', { type: 'email', name: 'email', required: true, maxlength: 254, autocomplete: 'off', placeholder: 'sam@example.com' });
  const roles = Object.entries(ROLES).map(([value, words]) => [h('input', { type: 'radio', name: 'role', value, checked: value === 'staff' }), words]);
  const msg = statusLine();
  const form = h(
    'form',
    { class: 'dash-keys__new', 'aria-label': 'Invite someone', novalidate: true },
    h('h3', { class: 'dash-hook__title' }, 'Invite someone'),
    field('Their email address', email, 'They sign in with it.'),
    h('fieldset', { class: 'dash-scopes' }, h('legend', null, 'Role'), roles.map(([r, words]) => h('label', { class: 'check' }, r, ` ${words}`))),
    h('div', { class: 'row' }, h('button', { class: 'btn btn--primary', type: 'submit' }, 'Invite')),
    msg,
  );
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const role = roles.find(([r]) => r.checked)[0].value;
    try {
      const made = await api('POST', 'staff', { email: email.value.trim(), role });
      draw(`Invited ${made.member.email}.`, linkShown(made, 'The invitation'));
    } catch (err) {
      status(msg, err.message, false);
    }
  });
  return form;
}

export default async function staffSection() {
  const box = h('div', { class: 'dash-owner' });
  const draw = async (message, shown) => {
    const list = await api('GET', 'staff');
    const msg = statusLine();
    replace(box,
      message ? h('p', { class: 'inline-msg inline-msg--ok', role: 'status' }, message) : '',
      shown || '',
      panel('Who signs in', 'Everyone here signs in to this dashboard with their own address and password. Nobody’s password is ever shown; a new link lets someone set one.', staffTable(list, draw, msg), msg, inviteForm(draw)),
    );
  };
  await draw();
  return [box];
}
