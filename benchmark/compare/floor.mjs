// The MockAgent floor of the benchmarks: undici's MockAgent answering every request to the given
// hosts with one fixed body, which is the cost of `fetch` itself.
import { MockAgent } from 'undici'

/** A MockAgent answering any method and path on each of `hosts` with status 200, `body` and `headers`. */
export function fixedBodyAgent(hosts, body, headers = {}) {
  const agent = new MockAgent()
  agent.disableNetConnect()
  for (const host of hosts) {
    agent
      .get(`https://${host}`)
      .intercept({ path: () => true, method: () => true })
      .reply(200, body, { headers })
      .persist()
  }
  return agent
}
