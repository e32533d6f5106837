/*
 * api.h - MACHVM_API, the mark of every function libmachvm exports.
 *
 * The library is built with -fvisibility=hidden: only the functions
 * declared in these headers with MACHVM_API are in libmachvm.so's dynamic
 * symbol table.  The engine's own functions (vm_map_*, vm_object_*,
 * task_lookup, ...) stay inside it, so they never clash with another
 * library's or a real Mach's.  tests/test_symbols.py checks that the
 * exported symbols are exactly the functions declared here.
 */
#ifndef MACHVM_API_H
#define MACHVM_API_H

#if defined(__GNUC__) || defined(__clang__)
#define MACHVM_API __attribute__((visibility("default")))
#else
#define MACHVM_API
#endif

#endif
