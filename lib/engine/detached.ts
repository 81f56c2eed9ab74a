import { AsyncLocalStorageProviderSingleton } from "@langchain/core/singletons";

/**
 * Runs a graph invocation outside the calling step's LangGraph context. Invoked from inside a node, LangGraph
 * would treat the graph as a subgraph of the run's graph and keep its checkpoints under the run's thread; map
 * items and sub-workflow runs must keep their own threads so they resume on their own after a crash.
 */
export function detached<T>(fn: () => Promise<T>): Promise<T> {
  return AsyncLocalStorageProviderSingleton.getInstance().run(undefined, fn) as Promise<T>;
}
