import { describe, expect, it } from "vitest";
import { addressRefusal, EMPTY_ALLOW_LIST, parseAllowList } from "./address-policy";
import { BlockedRequestError, checkUrl, guardedFetch } from "./guarded-http";

/**
 * Hostile URLs for the SSRF guard. IP literals are refused before any connection (no packet is sent); names
 * are refused after their one DNS resolution, before connecting.
 */
const HOSTILE_LITERALS: Array<[string, RegExp]> = [
  ["http://127.0.0.1/", /loopback/],
  ["http://127.1/", /loopback/],
  ["http://2130706433/", /loopback/], // decimal
  ["http://0x7f000001/", /loopback/], // hex
  ["http://0177.0.0.1/", /loopback/], // octal
  ["http://0x7f.0.0.1/", /loopback/], // mixed hex
  ["http://[::1]/", /loopback/],
  ["http://[::ffff:127.0.0.1]/", /loopback/], // IPv4-mapped IPv6
  ["http://[::ffff:7f00:1]/", /loopback/],
  ["http://10.0.0.1/", /private/],
  ["http://172.16.5.4/", /private/],
  ["http://172.31.255.255/", /private/],
  ["http://192.168.1.1/", /private/],
  ["http://[::ffff:192.168.0.1]/", /private/],
  ["http://169.254.169.254/latest/meta-data/", /link-local.*metadata/],
  ["http://[::ffff:169.254.169.254]/", /link-local/],
  ["http://[::ffff:a9fe:a9fe]/", /link-local/],
  ["http://100.64.0.1/", /carrier-grade NAT/],
  ["http://100.127.255.254/", /carrier-grade NAT/],
  ["http://0.0.0.0/", /unspecified/],
  ["http://0/", /unspecified/],
  ["http://[::]/", /unspecified/],
  ["http://[fc00::1]/", /unique-local/],
  ["http://[fd12:3456::1]/", /unique-local/],
  ["http://[fe80::1]/", /link-local/],
  ["http://224.0.0.1/", /multicast/],
  ["http://255.255.255.255/", /broadcast/],
  ["http://[64:ff9b::7f00:1]/", /IPv4-embedded/], // NAT64 form of 127.0.0.1
  ["http://[2002:7f00:1::]/", /6to4/],
  ["http://[::7f00:1]/", /IPv4-compatible/], // deprecated IPv4-compatible form of 127.0.0.1
  ["http://[::a9fe:a9fe]/", /IPv4-compatible/],
];

describe("SSRF guard", () => {
  it.each(HOSTILE_LITERALS)("refuses %s before connecting", (url, reason) => {
    expect(() => checkUrl(url, EMPTY_ALLOW_LIST)).toThrow(BlockedRequestError);
    expect(() => checkUrl(url, EMPTY_ALLOW_LIST)).toThrow(reason);
  });

  it.each(["file:///etc/passwd", "ftp://example.com/", "gopher://127.0.0.1:70/", "javascript:alert(1)", "data:text/plain,hi", "not a url"])(
    "refuses the non-http URL %s",
    (url) => {
      expect(() => checkUrl(url, EMPTY_ALLOW_LIST)).toThrow(BlockedRequestError);
    },
  );

  it("refuses a name that resolves to loopback, after resolving it once", async () => {
    await expect(guardedFetch({ method: "GET", url: "http://localhost:9/", allow: EMPTY_ALLOW_LIST })).rejects.toThrow(/localhost.*resolves to .*loopback/);
  });

  it("allows public unicast addresses (decided without sending anything)", () => {
    for (const ip of ["93.184.216.34", "8.8.8.8", "1.1.1.1", "2606:4700:4700::1111", "::ffff:8.8.8.8"]) expect(addressRefusal(ip, EMPTY_ALLOW_LIST)).toBeNull();
  });

  it("opens exactly what the admin allow-list names: CIDRs, addresses and host names", () => {
    const { allow, problems } = parseAllowList(["10.1.0.0/16", "127.0.0.1", "::1", "internal.example"]);
    expect(problems).toEqual([]);
    expect(addressRefusal("10.1.2.3", allow)).toBeNull();
    expect(addressRefusal("10.2.0.1", allow)).toMatch(/private/);
    expect(addressRefusal("127.0.0.1", allow)).toBeNull();
    expect(addressRefusal("::ffff:127.0.0.1", allow)).toBeNull();
    expect(addressRefusal("127.0.0.2", allow)).toMatch(/loopback/);
    expect(addressRefusal("::1", allow)).toBeNull();
    expect(addressRefusal("192.168.0.10", allow, "internal.example")).toBeNull();
    expect(addressRefusal("192.168.0.10", allow, "other.example")).toMatch(/private/);
    expect(parseAllowList(["10.0.0.0/99", "bad host!"]).problems).toEqual([
      '"10.0.0.0/99" is not a valid CIDR (write e.g. 10.0.0.0/8)',
      '"bad host!" is neither a host name, an IP address nor a CIDR',
    ]);
  });
});
