import ipaddr from "ipaddr.js";

/**
 * The SSRF address policy of outbound HTTP (the `http` step): which addresses a request may connect to.
 * Only public unicast addresses are allowed by default; loopback, private, link-local (incl. the cloud metadata
 * address 169.254.169.254), CGNAT, unspecified, multicast, reserved, unique-local and the IPv6 forms that embed
 * an IPv4 address are refused, unless an admin allow-list entry (host name or CIDR) opens them.
 */

export interface AllowList {
  hosts: Set<string>;
  cidrs: Array<[ipaddr.IPv4 | ipaddr.IPv6, number]>;
}

export const EMPTY_ALLOW_LIST: AllowList = { hosts: new Set(), cidrs: [] };

/**
 * Parses allow-list entries (`ORCHESTRATOR_HTTP_ALLOW`, comma-separated, and the settings page): CIDRs
 * (`10.0.0.0/8`), single addresses (`127.0.0.1`, `::1`) or host names (`api.internal`). Returns the problems of
 * entries it could not read, naming them.
 */
export function parseAllowList(entries: string[]): { allow: AllowList; problems: string[] } {
  const allow: AllowList = { hosts: new Set(), cidrs: [] };
  const problems: string[] = [];
  for (const raw of entries.map((e) => e.trim()).filter(Boolean)) {
    try {
      if (raw.includes("/")) allow.cidrs.push(ipaddr.parseCIDR(raw));
      else if (ipaddr.isValid(stripBrackets(raw))) {
        const address = normalise(ipaddr.parse(stripBrackets(raw)));
        allow.cidrs.push([address, address.kind() === "ipv4" ? 32 : 128]);
      } else if (/^[a-z0-9.-]+$/i.test(raw)) allow.hosts.add(raw.toLowerCase());
      else problems.push(`"${raw}" is neither a host name, an IP address nor a CIDR`);
    } catch {
      problems.push(`"${raw}" is not a valid CIDR (write e.g. 10.0.0.0/8)`);
    }
  }
  return { allow, problems };
}

const stripBrackets = (host: string) => (host.startsWith("[") && host.endsWith("]") ? host.slice(1, -1) : host);

/** IPv4-mapped IPv6 (`::ffff:127.0.0.1`) is judged as the IPv4 address it carries. */
function normalise(address: ipaddr.IPv4 | ipaddr.IPv6): ipaddr.IPv4 | ipaddr.IPv6 {
  return address.kind() === "ipv6" && (address as ipaddr.IPv6).isIPv4MappedAddress() ? (address as ipaddr.IPv6).toIPv4Address() : address;
}

function inAllowList(address: ipaddr.IPv4 | ipaddr.IPv6, allow: AllowList): boolean {
  return allow.cidrs.some(([network, bits]) => network.kind() === address.kind() && address.match(network, bits));
}

const IPV4_COMPATIBLE = ipaddr.parse("::");

/** Ranges of ipaddr.js that are fine to connect to; everything else (loopback, private, …) is refused. */
const PUBLIC_RANGES = new Set(["unicast"]);

const RANGE_NAMES: Record<string, string> = {
  loopback: "a loopback address",
  private: "a private address",
  linkLocal: "a link-local address (this includes the cloud metadata service)",
  carrierGradeNat: "a carrier-grade NAT address (100.64.0.0/10)",
  unspecified: "the unspecified address",
  broadcast: "the broadcast address",
  multicast: "a multicast address",
  reserved: "a reserved address",
  uniqueLocal: "a unique-local IPv6 address (fc00::/7)",
  ipv4Mapped: "an IPv4-mapped IPv6 address",
  rfc6145: "an IPv4-translated IPv6 address",
  rfc6052: "an IPv4-embedded IPv6 address",
  "6to4": "a 6to4 address",
  teredo: "a Teredo address",
  benchmarking: "a benchmarking address",
  amt: "an AMT address",
  as112: "an AS112 address",
  deprecated: "a deprecated address",
  orchid2: "an ORCHID address",
};

/**
 * Decides whether an IP address may be connected to: `null` when allowed, otherwise the reason it is refused.
 * `host` is the name the request used, for a host-name allow-list entry.
 */
export function addressRefusal(ip: string, allow: AllowList, host?: string): string | null {
  if (!ipaddr.isValid(stripBrackets(ip))) return `"${ip}" is not an IP address`;
  const address = normalise(ipaddr.parse(stripBrackets(ip)));
  if (inAllowList(address, allow) || (host && allow.hosts.has(host.toLowerCase()))) return null;
  const range = address.range();
  // ::/96 minus :: and ::1 (ranges of their own): the deprecated IPv4-compatible form, which ipaddr.js calls
  // unicast, but some stacks still route to the IPv4 address it carries.
  if (range === "unicast" && address.kind() === "ipv6" && address.match(IPV4_COMPATIBLE, 96))
    return `${address.toString()} is an IPv4-compatible IPv6 address (::/96)`;
  if (PUBLIC_RANGES.has(range)) return null;
  return `${address.toString()} is ${RANGE_NAMES[range] ?? `in the "${range}" range`}`;
}

/** Is the URL's host an IP literal (after WHATWG normalisation: `0x7f.1` is already `127.0.0.1` here)? */
export function ipLiteral(hostname: string): string | null {
  const bare = stripBrackets(hostname);
  return ipaddr.isValid(bare) && (bare.includes(":") || ipaddr.IPv4.isValidFourPartDecimal(bare)) ? bare : null;
}
