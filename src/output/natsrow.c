/* natsrow.c - rows as JSON and back (natsrow.h). */
#include "natsrow.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static json_t *natsrow_hex(const char *key, const unsigned char *p, size_t n)
{
	static const char digits[] = "0123456789abcdef";
	char *hex = malloc(2 * n + 1);
	json_t *v;

	if (!hex)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		hex[2 * i] = digits[p[i] >> 4];
		hex[2 * i + 1] = digits[p[i] & 15];
	}
	v = json_pack("{s:s#}", key, hex, (int)(2 * n));
	free(hex);
	return v;
}

json_t *natsrow_encode(sqlite3_stmt *st)
{
	json_t *row = json_object();

	if (!row)
		return NULL;
	for (int i = 0; i < sqlite3_column_count(st); i++) {
		json_t *v = NULL;
		const unsigned char *p;
		size_t n;

		switch (sqlite3_column_type(st, i)) {
		case SQLITE_INTEGER:
			v = json_integer(sqlite3_column_int64(st, i));
			break;
		case SQLITE_FLOAT:
			v = json_real(sqlite3_column_double(st, i));
			break;
		case SQLITE_NULL:
			v = json_null();
			break;
		case SQLITE_TEXT:
			p = sqlite3_column_text(st, i);
			n = (size_t)sqlite3_column_bytes(st, i);
			/* a peer's bytes need not be UTF-8, which JSON strings are */
			if (!(v = json_stringn((const char *)p, n)))
				v = natsrow_hex("t", p, n);
			break;
		default:
			p = sqlite3_column_blob(st, i);
			n = (size_t)sqlite3_column_bytes(st, i);
			v = natsrow_hex("x", p ? p : (const unsigned char *)"", n);
			break;
		}
		if (!v || json_object_set_new(row, sqlite3_column_name(st, i), v) < 0) {
			json_decref(row);
			return NULL;
		}
	}
	return row;
}

long natsrow_unhex(const char *hex, size_t len, unsigned char *out)
{
	if (len % 2)
		return -1;
	for (size_t i = 0; i < len; i += 2) {
		int hi, lo;
		char c[2] = {hex[i], hex[i + 1]};
		int d[2];
		for (int k = 0; k < 2; k++) {
			if (c[k] >= '0' && c[k] <= '9')
				d[k] = c[k] - '0';
			else if (c[k] >= 'a' && c[k] <= 'f')
				d[k] = c[k] - 'a' + 10;
			else
				return -1;
		}
		hi = d[0];
		lo = d[1];
		out[i / 2] = (unsigned char)(hi << 4 | lo);
	}
	return (long)(len / 2);
}

/* Binds v (natsrow_encode's form) at col. Returns an SQLite code. */
static int natsrow_bind(sqlite3_stmt *s, int col, json_t *v)
{
	const char *hex;
	unsigned char *buf;
	long n;
	int rc;

	if (json_is_null(v))
		return sqlite3_bind_null(s, col);
	if (json_is_integer(v))
		return sqlite3_bind_int64(s, col, json_integer_value(v));
	if (json_is_real(v))
		return sqlite3_bind_double(s, col, json_real_value(v));
	if (json_is_string(v))
		return sqlite3_bind_text(s, col, json_string_value(v),
		    (int)json_string_length(v), SQLITE_TRANSIENT);
	if (!json_is_object(v) || json_object_size(v) != 1)
		return SQLITE_MISMATCH;
	json_t *t = json_object_get(v, "t"), *x = json_object_get(v, "x");
	json_t *h = t ? t : x;
	if (!json_is_string(h))
		return SQLITE_MISMATCH;
	hex = json_string_value(h);
	if (!(buf = malloc(json_string_length(h) / 2 + 1)))
		return SQLITE_NOMEM;
	if ((n = natsrow_unhex(hex, json_string_length(h), buf)) < 0) {
		free(buf);
		return SQLITE_MISMATCH;
	}
	if (t)
		rc = sqlite3_bind_text(s, col, (char *)buf, (int)n, SQLITE_TRANSIENT);
	else
		rc = sqlite3_bind_blob(s, col, buf, (int)n, SQLITE_TRANSIENT);
	free(buf);
	return rc;
}

/* The column names of table, heap copies, into cols (at most
 * NATSROW_MAX_COLUMNS). Returns the count, or -1. */
static int natsrow_columns(sqlite3 *db, const char *table, char **cols)
{
	char sql[128];
	sqlite3_stmt *s;
	int n = 0;

	snprintf(sql, sizeof(sql), "PRAGMA table_info(%s)", table);
	if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) != SQLITE_OK)
		return -1;
	while (n < NATSROW_MAX_COLUMNS && sqlite3_step(s) == SQLITE_ROW)
		cols[n++] = strdup((const char *)sqlite3_column_text(s, 1));
	sqlite3_finalize(s);
	return n;
}

int natsrow_insert(sqlite3 *db, const char *table, json_t *row, size_t *unknown)
{
	char *cols[NATSROW_MAX_COLUMNS];
	json_t *vals[NATSROW_MAX_COLUMNS];
	int ncols = natsrow_columns(db, table, cols), nused = 0, rc;
	const char *key;
	json_t *v;
	size_t len = 64, at;
	char *sql;
	sqlite3_stmt *s = NULL;

	if (ncols < 0)
		return SQLITE_ERROR;
	if (!json_is_object(row)) {
		rc = SQLITE_MISMATCH;
		goto out;
	}
	/* the table's own names go into the SQL; the message's are only compared */
	json_object_foreach(row, key, v) {
		int i;
		for (i = 0; i < ncols; i++)
			if (cols[i] && strcmp(cols[i], key) == 0)
				break;
		if (i == ncols) {
			(*unknown)++;
			continue;
		}
		char *tmp = cols[nused];
		cols[nused] = cols[i];
		cols[i] = tmp;
		vals[nused++] = v;
		len += strlen(cols[nused - 1]) + 8;
	}
	if (nused == 0) {
		rc = SQLITE_MISMATCH;
		goto out;
	}
	if (!(sql = malloc(len + strlen(table)))) {
		rc = SQLITE_NOMEM;
		goto out;
	}
	at = (size_t)sprintf(sql, "INSERT OR IGNORE INTO %s(", table);
	for (int i = 0; i < nused; i++)
		at += (size_t)sprintf(sql + at, "%s\"%s\"", i ? "," : "", cols[i]);
	at += (size_t)sprintf(sql + at, ") VALUES(");
	for (int i = 0; i < nused; i++)
		at += (size_t)sprintf(sql + at, "%s?", i ? "," : "");
	sprintf(sql + at, ")");
	rc = sqlite3_prepare_v2(db, sql, -1, &s, NULL);
	free(sql);
	for (int i = 0; rc == SQLITE_OK && i < nused; i++)
		rc = natsrow_bind(s, i + 1, vals[i]);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(s);
	sqlite3_finalize(s);
out:
	for (int i = 0; i < ncols; i++)
		free(cols[i]);
	return rc;
}

int natsrow_own_rows(json_t *rows, const char *id)
{
	size_t i;
	json_t *row;

	if (!rows || json_is_null(rows))
		return 0;
	if (!json_is_array(rows))
		return -1;
	json_array_foreach(rows, i, row) {
		const char *s = json_string_value(json_object_get(row, "session"));
		if (!json_is_object(row))
			return -1;
		if (!s || strcmp(s, id) != 0)
			return 1;
	}
	return 0;
}

bool natsrow_number(const char *s, long long lo, long long hi, long long *out)
{
	char *end;

	if (!s || !((*s >= '0' && *s <= '9') || (*s == '-' && s[1] >= '0' && s[1] <= '9')))
		return false;
	errno = 0;
	*out = strtoll(s, &end, 10);
	return !*end && errno == 0 && *out >= lo && *out <= hi;
}

bool natsrow_is_sha(const char *s)
{
	if (!s || strlen(s) != 64)
		return false;
	for (; *s; s++)
		if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f')))
			return false;
	return true;
}

bool natsrow_is_time(const char *s)
{
	static const char shape[] = "dddd-dd-ddTdd:dd:dd";
	size_t n = s ? strlen(s) : 0;

	if (n < sizeof(shape) - 1 || n > 40)
		return false;
	for (size_t i = 0; i < n; i++) {
		char want = i < sizeof(shape) - 1 ? shape[i] : '.';
		if (want == 'd' ? !(s[i] >= '0' && s[i] <= '9') :
		    want == '.' ? !strchr("0123456789.:+-Z", s[i]) : s[i] != want)
			return false;
	}
	return true;
}
