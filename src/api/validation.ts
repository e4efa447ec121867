import type { FastifySchemaCompiler } from 'fastify';
import type { z } from 'zod';
import { ApiError } from './errors';

const WHERE: Record<string, string> = { body: 'body', querystring: 'query', params: 'path', headers: 'header' };

/**
 * Validates with the route's zod schema (the client's own where it has one). A refusal is a
 * 422 ValidationError naming the field: unknown fields, wrong types, numbers for amounts.
 */
export const zodValidatorCompiler: FastifySchemaCompiler<z.ZodType> =
  ({ schema, httpPart }) =>
  (data: unknown) => {
    const result = schema.safeParse(data);
    if (result.success) return { value: result.data };
    const where = WHERE[httpPart ?? 'body'] ?? 'request';
    const parts = result.error.issues.map((issue) => {
      const keys = issue.code === 'unrecognized_keys' ? (issue as { keys: string[] }).keys : [];
      const path = [...issue.path.map(String), ...(keys.length === 1 ? keys : [])].join('.');
      const message =
        issue.code === 'unrecognized_keys' ? `unknown field${keys.length > 1 ? 's' : ''} ${keys.join(', ')}` : issue.message;
      return { path, message };
    });
    const first = parts[0];
    const text = parts.map((p) => (p.path ? `${p.path}: ${p.message}` : p.message)).join('; ');
    return { error: new ApiError(422, 'ValidationError', `invalid ${where}: ${text}`, first?.path || where) };
  };
