// Added to FerretDB's source by Pantau's launcher (pantau/localstack/cache.py) before it
// builds FerretDB; not part of upstream FerretDB.

package handler

import (
	"context"

	"github.com/FerretDB/FerretDB/internal/backends"
	"github.com/FerretDB/FerretDB/internal/handler/common"
	"github.com/FerretDB/FerretDB/internal/types"
	"github.com/FerretDB/FerretDB/internal/util/must"
)

// pantauReplaceByID applies an update command made only of whole-document replacements
// selected by a string _id (no operators, no upsert, no multi) in one backend call: one
// SQLite transaction for the command, and no read and decode of each stored document.
// The generic path runs every statement in its own transaction after loading the old
// document; for a bulk of replacements that is most of the cost.
//
// It returns done=false, leaving the command to the generic path, for anything else,
// including a replacement the generic path would reject (a different _id, invalid data),
// so errors are reported exactly as before. One difference: a replacement identical to
// the stored document counts as modified.
func pantauReplaceByID(ctx context.Context, db backends.Database, params *common.UpdateParams) (int32, bool, error) {
	docs := make([]*types.Document, 0, len(params.Updates))

	for _, u := range params.Updates {
		if u.Upsert || u.Multi || u.HasUpdateOperators || u.Filter == nil || u.Update == nil || u.Filter.Len() != 1 {
			return 0, false, nil
		}

		id, err := u.Filter.Get("_id")
		if err != nil {
			return 0, false, nil
		}

		if _, ok := id.(string); !ok {
			return 0, false, nil
		}

		doc := must.NotFail(types.NewDocument("_id", id))

		for _, key := range u.Update.Keys() {
			value := must.NotFail(u.Update.Get(key))
			if key == "_id" {
				if types.Compare(value, id) != types.Equal {
					return 0, false, nil
				}

				continue
			}

			doc.Set(key, value)
		}

		if doc.ValidateData() != nil {
			return 0, false, nil
		}

		docs = append(docs, doc)
	}

	if len(docs) == 0 {
		return 0, false, nil
	}

	c, err := db.Collection(params.Collection)
	if err != nil {
		return 0, false, nil
	}

	res, err := c.UpdateAll(ctx, &backends.UpdateAllParams{Docs: docs})
	if err != nil {
		return 0, false, err
	}

	return res.Updated, true, nil
}
