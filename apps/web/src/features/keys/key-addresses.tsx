import { ErrorPanel, LoadingRows } from "../../components/page.js";
import { RelativeTime } from "../../components/relative-time.js";
import { trpc } from "../../lib/trpc.js";

const numberFormat = new Intl.NumberFormat("en");

/** Where the key is used from: IPv4 addresses, IPv6 per /64; new ones are flagged. */
export function KeyAddresses({ id, now }: { id: string; now: Date }) {
  const addresses = trpc.keys.addresses.useQuery({ id });
  return (
    <section className="card" aria-labelledby="addresses-title">
      <h2 id="addresses-title">Used from</h2>
      {addresses.isPending ? (
        <LoadingRows label="Loading addresses" />
      ) : addresses.isError ? (
        <ErrorPanel error={addresses.error} onRetry={() => void addresses.refetch()} />
      ) : addresses.data.data.length === 0 ? (
        <p className="muted">No requests yet. Addresses appear here within seconds of use.</p>
      ) : (
        <div className="table-wrap" role="region" aria-label="Client addresses" tabIndex={0}>
          <table className="addresses-table">
            <thead>
              <tr>
                <th scope="col">Address</th>
                <th scope="col" className="num">
                  Requests
                </th>
                <th scope="col">First seen</th>
                <th scope="col">Last seen</th>
              </tr>
            </thead>
            <tbody>
              {addresses.data.data.map((entry) => (
                <tr key={entry.address}>
                  <th scope="row">
                    <code className="mono">{entry.address}</code>
                    {entry.new && (
                      <span className="badge warn" title="First seen after the key's first day">
                        New
                      </span>
                    )}
                  </th>
                  <td className="num">{numberFormat.format(entry.requests)}</td>
                  <td>
                    <RelativeTime iso={entry.first_seen_at} now={now} />
                  </td>
                  <td>
                    <RelativeTime iso={entry.last_seen_at} now={now} />
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <p className="help">
        The 100 most recently seen addresses. “New” marks an address first seen after the key’s
        first day of use, within the last 7 days.
      </p>
    </section>
  );
}
