/*
 * mask.h - masking of residents' personal data (个人信息保护法), the way
 * Chinese service platforms show a resident to staff. Shared by the CLI
 * (`minqing show`, `list`) and libminqing (adapters' logs), so that the two
 * can never mask differently.
 */
#ifndef MQ_MASK_H
#define MQ_MASK_H

#include <stddef.h>

/* Masks write into out (size bytes, cut at a character boundary). */
/* 13812345678 -> 138****5678: the first 3 and last 4 digits stay when there
 * are at least 11 (a mobile or ID number); else only the last 2 (86001234 ->
 * ******34). Other characters stay. */
void mask_phone(const char *phone, char *out, size_t size);
/* 张三 -> 张*: the first character stays, every other one but spaces is '*'. */
void mask_name(const char *name, char *out, size_t size);
/* zhang@example.com -> z***@example.com */
void mask_email(const char *email, char *out, size_t size);
/* The first third of the characters (at most 8) and "***". */
void mask_address(const char *address, char *out, size_t size);
/* Free text: every number of 7 or more digits (a phone or ID number inside a
 * description or a note; digits full-width or not, in groups of 3 or more,
 * or one by one, joined by a space, or by one '-', '.', '/', '_' or a dash
 * with at most one space on either side, or split by a terminal escape;
 * 1 3 8 1 2 3 4 5 6 7 8 is one number, 2024 05 01 is none) masked as mask_phone
 * does; a byte that starts no UTF-8 character becomes '?'; the rest
 * unchanged. */
void mask_text(const char *text, char *out, size_t size);

#endif
