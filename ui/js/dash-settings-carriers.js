// The shop's own carrier accounts, the owner's: for each carrier that takes one, what it
// needs, whether the shop has its own and whether this server asks that carrier about the
// shop's parcels now. Values are entered, sealed by the server and never shown back.

import { h, replace } from './dom.js';
import * as fmt from './format.js';
import { api } from './dash-api.js';
import { field, panel, status, statusLine, twoStep } from './dash-form.js';

function accountForm(a, draw) {
  const inputs = a.fields.map((f) => [f, h('input', { type: f.secret ? 'password' : 'text', name: f.name, autocomplete: 'off', spellcheck: 'false', required: true })]);
  const msg = statusLine();
  const state = a.configured
    ? `The shop’s own account, set by ${a.set_by} ${fmt.relative(a.set_at)}${a.in_use ? '; in use' : '; in use within a few seconds'}.`
    : a.in_use
      ? 'Asked with this server’s account (its operator’s).'
      : 'No account: parcels of this carrier wait for one.';
  const remove = a.configured
    ? twoStep('Remove', 'Remove: this server’s account, if any, takes over', async () => {
        try {
          await api('DELETE', `carriers/accounts/${a.carrier}`);
          draw(`${a.carrier_name}: the shop’s account removed.`);
        } catch (err) {
          status(msg, err.message, false);
        }
      })
    : null;
  const form = h(
    'form',
    { class: 'dash-hook', 'aria-label': a.carrier_name, dataset: { carrier: a.carrier }, novalidate: true },
    h('h3', { class: 'dash-hook__title' }, a.carrier_name),
    h('p', { class: 'muted small' }, state),
    h('div', { class: 'dash-grid' }, inputs.map(([f, input]) => field(f.label, input, a.configured && f === a.fields[0] ? 'Enter every value to replace the account.' : null))),
    h('div', { class: 'row' }, h('button', { class: 'btn btn--primary', type: 'submit' }, a.configured ? 'Replace' : 'Save'), remove),
    msg,
  );
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const fields = Object.fromEntries(inputs.filter(([, input]) => input.value.trim()).map(([f, input]) => [f.name, input.value.trim()]));
    try {
      await api('PUT', `carriers/accounts/${a.carrier}`, { fields });
      draw(`${a.carrier_name}: saved. The shop’s parcels there are asked with it within a few seconds; carrier health (under Analytics) shows how it answers.`);
    } catch (err) {
      status(msg, err.message, false);
    }
  });
  return form;
}

export default async function carriersSection() {
  const box = h('div', { class: 'dash-owner' });
  const draw = async (message) => {
    const list = await api('GET', 'carriers/accounts');
    replace(
      box,
      message ? h('p', { class: 'inline-msg inline-msg--ok', role: 'status' }, message) : null,
      panel(
        'Your accounts at the carriers',
        'Your own API accounts at the carriers: your contract’s limits, your parcels only. Without one, this server’s own account (if its operator set one) is used. The values are kept sealed and never shown again.',
        list.accounts.map((a) => accountForm(a, draw)),
      ),
    );
  };
  await draw();
  return [box];
}
