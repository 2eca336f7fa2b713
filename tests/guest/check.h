/* SPDX-License-Identifier: GPL-2.0 */
/* In-guest C tests check with the tree's one set of check macros. */
#ifndef KVMUF_GUEST_CHECK_H
#define KVMUF_GUEST_CHECK_H

#include "../../tools/common/check.h"

#endif /* KVMUF_GUEST_CHECK_H */
