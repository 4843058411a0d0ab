/**
 * GET /api/offers/<account>/<id>: everything stored about one offer, its raw eMAG record included.
 */
import { getOffer } from '../../db/catalog-queries.ts';
import { idParam, knownAccount } from '../params.ts';
import { HttpError, json } from '../reply.ts';
import type { Handler, RouteContext } from '../route.ts';

/** Answers GET /api/offers/<account>/<id>; 404 for an unknown account or offer. */
export function offerRoute(ctx: RouteContext): Handler {
  return async ({ params }) => {
    const account = knownAccount(ctx, params.account);
    const offer = await getOffer(ctx.sql, account, idParam(params.id));
    if (!offer) throw new HttpError(404, 'not_found', `no offer ${params.id} in ${account}`);
    return json(200, offer);
  };
}
