/* yara_api.h - libyara through dlopen. flypaper does not link libyara:
 * loading it (and libcrypto, libmagic, liblzma... with it) cost every exec
 * about 2 ms, which every inetd child paid even when it classified nothing.
 * Include this after <yara.h>: each yr_* function used is #defined to its
 * entry in a table yara_api_load fills, so call sites keep their names. A
 * function that is not in the table does not link (no -lyara): add it to
 * both lists below. */
#ifndef FLYPAPER_YARA_API_H
#define FLYPAPER_YARA_API_H

#include <stdbool.h>
#include <stddef.h>
#include <yara.h>

/* Every libyara function flypaper calls. */
#define YARA_API_FUNCTIONS(X) \
	X(yr_initialize) \
	X(yr_finalize) \
	X(yr_set_configuration_uint32) \
	X(yr_compiler_create) \
	X(yr_compiler_destroy) \
	X(yr_compiler_set_callback) \
	X(yr_compiler_add_file) \
	X(yr_compiler_add_string) \
	X(yr_compiler_define_string_variable) \
	X(yr_compiler_define_integer_variable) \
	X(yr_compiler_define_boolean_variable) \
	X(yr_compiler_get_rules) \
	X(yr_rules_load_stream) \
	X(yr_rules_save_stream) \
	X(yr_rules_destroy) \
	X(yr_scanner_create) \
	X(yr_scanner_destroy) \
	X(yr_scanner_set_callback) \
	X(yr_scanner_set_timeout) \
	X(yr_scanner_set_flags) \
	X(yr_scanner_define_string_variable) \
	X(yr_scanner_define_integer_variable) \
	X(yr_scanner_define_boolean_variable) \
	X(yr_scanner_scan_mem)

/* The table: one pointer per function, typed from <yara.h>'s own
 * prototypes. */
struct yara_api {
#define YARA_API_FIELD(name) __typeof__(&name) name;
	YARA_API_FUNCTIONS(YARA_API_FIELD)
#undef YARA_API_FIELD
};

extern struct yara_api yara_api;

/* Loads libyara from the absolute path found at build time
 * (FLYPAPER_LIBYARA), once per process: before confinement, which forbids
 * mapping code. The file and every folder above it must be root's and
 * writable by no one else, so root never loads a library another user
 * could have replaced. Returns 0, or -1 with a message naming the file and
 * the fix in err. */
int yara_api_load(char *err, size_t errlen);

/* Whether the file at path, links resolved, and every folder above it are
 * root's and writable by no one else, so that only root can have put code
 * there. Returns 0, or -1 with the reason, naming the file, in err. */
int yara_api_trusted(const char *path, char *err, size_t errlen);

/* True once yara_api_load succeeded. */
bool yara_api_loaded(void);

/* The path yara_api_load loads. */
const char *yara_api_path(void);

#ifndef YARA_API_TABLE
#define yr_initialize (yara_api.yr_initialize)
#define yr_finalize (yara_api.yr_finalize)
#define yr_set_configuration_uint32 (yara_api.yr_set_configuration_uint32)
#define yr_compiler_create (yara_api.yr_compiler_create)
#define yr_compiler_destroy (yara_api.yr_compiler_destroy)
#define yr_compiler_set_callback (yara_api.yr_compiler_set_callback)
#define yr_compiler_add_file (yara_api.yr_compiler_add_file)
#define yr_compiler_add_string (yara_api.yr_compiler_add_string)
#define yr_compiler_define_string_variable (yara_api.yr_compiler_define_string_variable)
#define yr_compiler_define_integer_variable (yara_api.yr_compiler_define_integer_variable)
#define yr_compiler_define_boolean_variable (yara_api.yr_compiler_define_boolean_variable)
#define yr_compiler_get_rules (yara_api.yr_compiler_get_rules)
#define yr_rules_load_stream (yara_api.yr_rules_load_stream)
#define yr_rules_save_stream (yara_api.yr_rules_save_stream)
#define yr_rules_destroy (yara_api.yr_rules_destroy)
#define yr_scanner_create (yara_api.yr_scanner_create)
#define yr_scanner_destroy (yara_api.yr_scanner_destroy)
#define yr_scanner_set_callback (yara_api.yr_scanner_set_callback)
#define yr_scanner_set_timeout (yara_api.yr_scanner_set_timeout)
#define yr_scanner_set_flags (yara_api.yr_scanner_set_flags)
#define yr_scanner_define_string_variable (yara_api.yr_scanner_define_string_variable)
#define yr_scanner_define_integer_variable (yara_api.yr_scanner_define_integer_variable)
#define yr_scanner_define_boolean_variable (yara_api.yr_scanner_define_boolean_variable)
#define yr_scanner_scan_mem (yara_api.yr_scanner_scan_mem)
#endif

#endif
