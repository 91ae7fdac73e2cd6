// The client is the package @experimentation-worker/client (packages/client), which the CLI, the tests and
// other services share; this module keeps the old import path working.
export { ExperimentationClient, isSuccess, sign } from '@experimentation-worker/client';
export type { Actor, ClientOptions, CommandInput, CommandReply, DomainEvent, Reply, SendOptions, TypedSendOptions } from '@experimentation-worker/client';
