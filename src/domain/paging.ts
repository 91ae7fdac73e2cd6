import { z } from 'zod';

// DOMAIN.md "Paging": page from 1, pageSize 1 to 999, default 100.
export const DEFAULT_PAGE_SIZE = 100;
export const MAX_PAGE_SIZE = 999;

export const pagingFields = {
  page: z.number().int().min(1).default(1),
  pageSize: z.number().int().min(1).max(MAX_PAGE_SIZE).default(DEFAULT_PAGE_SIZE),
};

export interface Paging {
  page: number;
  pageSize: number;
}

/** Rows to skip and to take for a page. */
export const pageWindow = ({ page, pageSize }: Paging) => ({ offset: (page - 1) * pageSize, limit: pageSize });

/** `q` as an ILIKE pattern matching it anywhere, with LIKE's wildcards taken literally. */
export const containsPattern = (q: string): string => `%${q.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
