/* smtp.h - the SMTP engine (next issue). */
#ifndef ENVOI_SMTP_H
#define ENVOI_SMTP_H
#endif
