/**
 * @file eactors.h
 * @brief Everything an eactors application includes.
 */
#ifndef EACTORS_H
#define EACTORS_H

#include <eactors/ea_err.h>
#include <eactors/ea_queue.h>
#include <eactors/ea_actor.h>

#endif
