/* gsl_api.h - GSL (libgsl) through dlopen, like libyara and libpcap
 * (dlib.h). Only yield, report and the statistics benchmark need its
 * distributions; linked, libgsl and libgslcblas would be mapped by every
 * exec, inetd children's too. Include this instead of GSL's headers'
 * functions: each gsl_* function used is #defined to its entry in a table
 * gsl_api_load fills, so call sites keep their names. A function that is
 * not in the table does not link (no -lgsl): add it to both lists below. */
#ifndef FLYPAPER_GSL_API_H
#define FLYPAPER_GSL_API_H

#include <gsl/gsl_cdf.h>
#include <gsl/gsl_errno.h>
#include <gsl/gsl_randist.h>
#include <gsl/gsl_sf_gamma.h>
#include <stdbool.h>
#include <stddef.h>

/* Every GSL function flypaper calls. */
#define GSL_API_FUNCTIONS(X) \
	X(gsl_cdf_chisq_Q) \
	X(gsl_cdf_ugaussian_Pinv) \
	X(gsl_ran_hypergeometric_pdf) \
	X(gsl_set_error_handler_off) \
	X(gsl_sf_lnchoose)

/* The table: one pointer per function, typed from GSL's own prototypes. */
struct gsl_api {
#define GSL_API_FIELD(name) __typeof__(&name) name;
	GSL_API_FUNCTIONS(GSL_API_FIELD)
#undef GSL_API_FIELD
};

extern struct gsl_api gsl_api;

/* Loads libgsl from the absolute path of its soname found at build time
 * (FLYPAPER_LIBGSL), once per process, and turns GSL's error handler off
 * (its default aborts the process; every call's domain is checked by the
 * caller instead). The file and every folder above it must be root's and
 * writable by no one else (dlib_trusted). Returns 0, or -1 with a message
 * naming the file and the package to install in err. */
int gsl_api_load(char *err, size_t errlen);

/* gsl_api_load from another file, for tests: the same checks and
 * messages. Returns 0, or -1 with err. */
int gsl_api_load_from(const char *path, char *err, size_t errlen);

/* True once gsl_api_load succeeded. */
bool gsl_api_loaded(void);

#ifndef GSL_API_TABLE
#define gsl_cdf_chisq_Q (gsl_api.gsl_cdf_chisq_Q)
#define gsl_cdf_ugaussian_Pinv (gsl_api.gsl_cdf_ugaussian_Pinv)
#define gsl_ran_hypergeometric_pdf (gsl_api.gsl_ran_hypergeometric_pdf)
#define gsl_set_error_handler_off (gsl_api.gsl_set_error_handler_off)
#define gsl_sf_lnchoose (gsl_api.gsl_sf_lnchoose)
#endif

#endif
