/**
 * Who may approve a migration's contract (`contract.approval` of a definition), checked by the
 * workflow's `approve` validator: a refused approval writes nothing to the history.
 *
 * The identities compared are those the ferry client takes from the credentials it connects with
 * (src/client/identity.ts: the mTLS client certificate's subject, an API key's subject, else
 * user@host). The workflow cannot see the TLS peer of a request itself; see that file for what the
 * identity proves.
 */

/** `contract.approval` as an object: who may approve. */
export interface ApprovalRule {
  /** `'starter'`: the identity that started the migration may not approve it (a second person must). */
  notBy?: 'starter';
  /** Only these identities may approve: `CN=alice` matches a certificate subject with that CN. */
  by?: string[];
}

/** `K=V, K=V` → `k=V` parts, or undefined when `text` is not a distinguished name. */
function dnParts(text: string): string[] | undefined {
  const parts = text.split(/\s*,\s*/).map((p) => p.trim());
  if (!parts.every((p) => /^[A-Za-z][\w.-]*=./.test(p))) return undefined;
  return parts.map((p) => {
    const i = p.indexOf('=');
    return `${p.slice(0, i).toLowerCase()}=${p.slice(i + 1)}`;
  });
}

/**
 * Whether `identity` is one that `allowed` names: the same text, or, for a certificate subject,
 * every part of `allowed` present in it (`CN=alice` matches `O=Acme, CN=alice`).
 * @example identityMatches('O=Acme, CN=alice', 'CN=alice') // true
 */
export function identityMatches(identity: string, allowed: string): boolean {
  if (identity === allowed) return true;
  const have = dnParts(identity);
  const want = dnParts(allowed);
  return have !== undefined && want !== undefined && want.every((part) => have.includes(part));
}

/**
 * Why `identity` may not approve the migration `name` under `rule`, or undefined when it may.
 * @example approvalRefusal('m', { notBy: 'starter' }, 'CN=alice', 'CN=alice') // 'migration "m" was started by "CN=alice"; ...'
 */
export function approvalRefusal(
  name: string,
  rule: ApprovalRule,
  startedBy: string | undefined,
  identity: string | undefined,
): string | undefined {
  if (!identity) {
    return (
      `migration "${name}" limits who may approve (contract.approval), and this approval carries no caller identity; ` +
      `approve with "ferry approve ${name}", which sends the identity of its client certificate or API key.`
    );
  }
  if (rule.notBy === 'starter' && startedBy === undefined) {
    return (
      `migration "${name}" needs a second person to approve (contract.approval.notBy "starter"), but the identity that ` +
      `started it is not known; abort it and start it again with "ferry start ${name}", which records it.`
    );
  }
  if (rule.notBy === 'starter' && startedBy !== undefined && identityMatches(identity, startedBy)) {
    return (
      `migration "${name}" was started by "${startedBy}", and contract.approval.notBy "starter" needs a second person; ` +
      `"${identity}" may not approve it. Ask someone else to run "ferry approve ${name}" with their own credentials.`
    );
  }
  if (rule.by && !rule.by.some((allowed) => identityMatches(identity, allowed))) {
    return (
      `"${identity}" may not approve migration "${name}": contract.approval.by allows only ${rule.by.map((b) => `"${b}"`).join(', ')}. ` +
      `Ask one of them to run "ferry approve ${name}" with their own credentials.`
    );
  }
  return undefined;
}

/**
 * The rule in words, for the migration's summary in the Web UI.
 * @example describeApprovalRule({ notBy: 'starter', by: ['CN=alice'] }) // 'a second person, one of "CN=alice"'
 */
export function describeApprovalRule(rule: ApprovalRule): string {
  const parts = [rule.notBy === 'starter' ? 'a second person' : '', rule.by ? `one of ${rule.by.map((b) => `"${b}"`).join(', ')}` : ''];
  return parts.filter(Boolean).join(', ') || 'anyone';
}
