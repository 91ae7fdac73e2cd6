// DOMAIN.md "Paging": page from 1, pageSize 1 to 999, default 100. The payload fields are part of the wire
// contract (packages/client/src/contracts/paging.ts); the windows they select are the worker's.
export { DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, pagingFields } from '@experimentation-worker/client/contracts';

export interface Paging {
  page: number;
  pageSize: number;
}

/** Rows to skip and to take for a page. */
export const pageWindow = ({ page, pageSize }: Paging) => ({ offset: (page - 1) * pageSize, limit: pageSize });

/** `q` as an ILIKE pattern matching it anywhere, with LIKE's wildcards taken literally. */
export const containsPattern = (q: string): string => `%${q.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
