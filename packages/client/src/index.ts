export * from './contracts/index.js';
export { ExperimentationClient, isSuccess, type ClientOptions, type CommandInput, type CommandReply, type ErrorReply, type SendOptions, type SuccessReply, type TypedSendOptions } from './client.js';
