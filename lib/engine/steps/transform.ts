import type { StepExecutor } from "./types";

/** The config's `output` arrives with every template already evaluated: it is the output. */
export const transformExecutor: StepExecutor = async (config) => config.output;
