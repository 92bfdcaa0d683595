/*
 * Compile-time feature profile (internal).  Each feature is on unless the
 * build says otherwise (CMake options SL_WITH_*, see docs/size.md), which
 * passes -DSL_FEATURE_<NAME>=0 to every file of the build.  Code tests the
 * macros in ordinary `if` conditions where it can, so a feature that is
 * off becomes dead code the compiler removes, and every branch is still
 * compiled (and type-checked) in every profile.  sl_features() reports
 * the profile at run time.
 */
#ifndef SL_CORE_FEATURES_H
#define SL_CORE_FEATURES_H

#ifndef SL_FEATURE_IPV6
#define SL_FEATURE_IPV6 1         /* IPv6, ICMPv6                          */
#endif
#ifndef SL_FEATURE_REASM
#define SL_FEATURE_REASM 1        /* IPv4/IPv6 fragment reassembly          */
#endif
#ifndef SL_FEATURE_SACK
#define SL_FEATURE_SACK 1         /* TCP SACK (RFC 2018, RFC 6675)          */
#endif
#ifndef SL_FEATURE_TIMESTAMPS
#define SL_FEATURE_TIMESTAMPS 1   /* TCP timestamps, PAWS (RFC 7323)        */
#endif
#ifndef SL_FEATURE_SYN_COOKIES
#define SL_FEATURE_SYN_COOKIES 1  /* SYN cookies (RFC 4987)                 */
#endif
#ifndef SL_FEATURE_ERROR_TEXT
#define SL_FEATURE_ERROR_TEXT 1   /* sl_strerror's descriptions             */
#endif

/* True for an IPv6 family value only when IPv6 is compiled in. */
#define SL_IS_V6(family) (SL_FEATURE_IPV6 && (family) == 6)

#endif
