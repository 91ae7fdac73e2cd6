import { z } from 'zod';

// The data of the pipeline's BullMQ jobs. Redis is an edge like Kafka: whoever can write to it can write a job,
// so a job names only what Postgres holds (a held command's row), never a command itself, and is checked here.

/** A retry job: the held command to run; its bytes stay in Postgres and are read and verified again each time. */
export const commandRetryJobSchema = z.object({
  heldId: z.number().int().positive(),
  commandId: z.uuid(),
  /** For operators (`expctl jobs failed`). */
  type: z.string().max(100),
});
export type CommandRetryJob = z.infer<typeof commandRetryJobSchema>;

/** A reply job names a delivery (reply_deliveries row) of a command; the topic and reply sent come from Postgres. */
export const replyJobSchema = z.object({ id: z.number().int().positive(), commandId: z.uuid() });
