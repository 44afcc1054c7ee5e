// Added to FerretDB's source by Pantau's launcher (pantau/localstack/cache.py) before it
// builds FerretDB; not part of upstream FerretDB.

package sqlite

import (
	"fmt"
	"strings"

	"github.com/FerretDB/FerretDB/internal/backends/sqlite/metadata"
	"github.com/FerretDB/FerretDB/internal/handler/sjson"
	"github.com/FerretDB/FerretDB/internal/types"
	"github.com/FerretDB/FerretDB/internal/util/must"
)

// pantauMaxIDIn bounds the SQL parameters of one pushed-down `_id: {$in: [...]}`.
const pantauMaxIDIn = 1000

// pantauIDIn pushes a filter `{_id: {$in: [ids]}}` (string or ObjectID ids) down to
// SQLite as `WHERE <_id expression> IN (...)`, answered from the unique _id index; upstream
// pushes down only `_id` equality and scans the whole table for `$in`. The handler still
// applies the full filter to what this returns, so an empty clause (not applicable) only
// means a scan, never a wrong answer.
func pantauIDIn(cond *types.Document) (string, []any) {
	if cond.Len() != 1 {
		return "", nil
	}

	v, err := cond.Get("$in")
	if err != nil {
		return "", nil
	}

	ids, ok := v.(*types.Array)
	if !ok || ids.Len() == 0 || ids.Len() > pantauMaxIDIn {
		return "", nil
	}

	args := make([]any, 0, ids.Len())

	for i := 0; i < ids.Len(); i++ {
		id := must.NotFail(ids.Get(i))
		switch id.(type) {
		case string, types.ObjectID:
			args = append(args, string(must.NotFail(sjson.MarshalSingleValue(id))))
		default:
			return "", nil
		}
	}

	placeholders := strings.TrimSuffix(strings.Repeat("?, ", len(args)), ", ")

	return fmt.Sprintf(` WHERE %s IN (%s)`, metadata.IDColumn, placeholders), args
}
