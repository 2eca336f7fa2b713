// SPDX-License-Identifier: GPL-2.0
/* Harness self-test: a module whose init fails, which the harness must report as FAIL. */
#include <linux/module.h>

static int __init broken_init(void)
{
	return -ENODEV;
}
module_init(broken_init);

MODULE_DESCRIPTION("kvm-userfault harness self-test: init always fails");
MODULE_LICENSE("GPL");
