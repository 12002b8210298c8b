/* smtp.c - placeholder until written. */
#include "smtp.h"
typedef int smtp_placeholder_t; /* the engine comes next */
