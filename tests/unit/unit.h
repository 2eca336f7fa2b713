/* SPDX-License-Identifier: GPL-2.0 */
/* The unit tests check with the tree's one set of check macros (tools/common/check.h). */
#ifndef KVMUF_UNIT_H
#define KVMUF_UNIT_H

#include "check.h"

#endif /* KVMUF_UNIT_H */
