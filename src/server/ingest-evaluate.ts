import {
  evaluateProfile,
  evaluationContextOf,
  type PlainEvaluationContext,
  type ProfileEvaluation,
} from '../engine/index.ts';
import { parseProfileExport } from '../profile/index.ts';
import { parseIngestBody } from './ingest-body.ts';

/** An ingest body as it arrived. */
export interface IngestBody {
  text: string;
  contentType: string;
  /** More items than this is a 413. */
  maxItems: number;
}

export type { PlainEvaluationContext };

export interface EvaluatedBody {
  /** Items in the body. */
  received: number;
  /**
   * Items that are not valid profile exports, by index in the body (and, for NDJSON, the line it is on), one entry
   * per problem.
   */
  rejected: Array<{ index: number; line?: number; path: string; reason: string }>;
  /** The accepted profiles, mapped, normalized and hashed, in body order. */
  evaluations: ProfileEvaluation[];
}

/**
 * Reads an ingest body (one object, a JSON array or NDJSON), validates each item, and maps, normalizes and hashes
 * the valid ones: everything ingest does before the store. Pure, so it runs on the main thread or a worker thread
 * alike. A body that cannot be read at all throws the ApiError `parseIngestBody` throws; bad items are listed.
 */
export function evaluateIngestBody(
  body: IngestBody,
  context: PlainEvaluationContext,
  profileKeyHash: (namespace: string, id: string) => string,
): EvaluatedBody {
  const { items, lineErrors, lines } = parseIngestBody(body.text, body.contentType, body.maxItems);
  const mapping = evaluationContextOf(context);
  const rejected: EvaluatedBody['rejected'] = [];
  const evaluations: ProfileEvaluation[] = [];
  items.forEach((item, index) => {
    const at = lines === undefined ? { index } : { index, line: lines[index]! };
    const lineError = lineErrors.get(index);
    if (lineError) {
      rejected.push({ ...at, ...lineError });
      return;
    }
    const parsed = parseProfileExport(item);
    if (parsed.ok) evaluations.push(evaluateProfile(parsed.profile, mapping, profileKeyHash));
    else for (const e of parsed.errors) rejected.push({ ...at, path: e.path, reason: e.reason });
  });
  return { received: items.length, rejected, evaluations };
}
